package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// maxConnectorBody bounds a connector request: a message of the largest
// size in any script, with room for the rest.
const maxConnectorBody = 64 << 10

// connectorTimeout bounds how long a connector request waits for its
// message to be stored.
const connectorTimeout = 30 * time.Second

// handleConnectorMessage takes a customer's message from a connector
// (POST /v1/connector/messages, Authorization: Bearer <API key>) and
// answers with the message's acknowledgement: 201 when stored, 200 when
// its client_msg_id was stored before (duplicate).
func (s *Server) handleConnectorMessage(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		writeError(w, parley.Errorf(parley.EUnauthorized, "Authorization: Bearer <API key> is required."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConnectorBody)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, parley.Errorf(parley.ETooLarge, "Request body is too large."))
			return
		}
		writeError(w, parley.Errorf(parley.EBadRequest, "Request body could not be read."))
		return
	}
	var m chat.ConnectorMessage
	if len(bytes.TrimSpace(data)) == 0 || json.Unmarshal(data, &m) != nil {
		writeError(w, parley.Errorf(parley.EBadRequest, "Request body is not valid JSON."))
		return
	}
	if err := checkStrict(data, &m); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), connectorTimeout)
	defer cancel()
	var f parley.SentFrame
	if !s.admit(func() { f, err = s.hub.ConnectorSend(ctx, key, m) }) {
		err = errDraining
	}
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if f.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, f)
}

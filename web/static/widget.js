// Parley widget loader: written in step 3.

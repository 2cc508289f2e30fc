package embedded

// session is a logical session (lsid). (Placeholder: the server-core
// engineer replaces this file.)
type session struct{}

// txnHandle is the engine transaction a command runs in. (Placeholder: the
// server-core engineer replaces it with the engine's transaction type.)
type txnHandle interface{}

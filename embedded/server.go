package embedded

// Server is a running embedded server. (Placeholder: the server-core
// engineer replaces this file.)
type Server struct{}

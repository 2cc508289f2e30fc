package embedded

import (
	"fmt"
	"net"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// validateExposure checks the connection-limit and security fields of a
// Config.
func (c Config) validateExposure() error {
	if c.MaxConnections < 0 {
		return fmt.Errorf("%w: MaxConnections %d is negative", ErrInvalidConfig, c.MaxConnections)
	}
	if c.IdleTimeout < 0 {
		return fmt.Errorf("%w: IdleTimeout %v is negative", ErrInvalidConfig, c.IdleTimeout)
	}
	if c.MessageReadTimeout < 0 {
		return fmt.Errorf("%w: MessageReadTimeout %v is negative", ErrInvalidConfig, c.MessageReadTimeout)
	}
	seen := make(map[string]bool, len(c.Users))
	for i, u := range c.Users {
		switch {
		case u.Name == "":
			return fmt.Errorf("%w: Users[%d] has an empty Name", ErrInvalidConfig, i)
		case u.Password == "":
			return fmt.Errorf("%w: user %q has an empty Password", ErrInvalidConfig, u.Name)
		case seen[u.Name]:
			return fmt.Errorf("%w: user %q is listed twice in Users", ErrInvalidConfig, u.Name)
		}
		seen[u.Name] = true
	}
	if t := c.TLS; t != nil && len(t.Certificates) == 0 && t.GetCertificate == nil && t.GetConfigForClient == nil {
		return fmt.Errorf("%w: TLS has no certificate (set Certificates or GetCertificate)", ErrInvalidConfig)
	}
	return nil
}

// IsLoopback reports whether a listen address (host:port) accepts
// connections from this host only. An unspecified host ("0.0.0.0", "::",
// "") listens on every interface; a name other than localhost is assumed
// to reach beyond.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnExposure logs, loudly, a server reachable beyond this host that
// anyone may use: mongod refuses to bind beyond localhost by default for
// the same reason.
func (s *Server) warnExposure() {
	if IsLoopback(s.ln.Addr().String()) || len(s.cfg.Users) > 0 {
		return
	}
	s.logger.Warn("SECURITY: listening beyond loopback WITHOUT authentication: any host that can reach this port can read, change and delete every database; set Config.Users (mongotide embedded --auth) and TLS, or listen on 127.0.0.1",
		"addr", s.ln.Addr().String(), "tls", s.cfg.TLS != nil)
}

// testCommands exist only with Config.EnableTestCommands, as on mongod:
// configureFailPoint lets one client make every other client's commands
// fail.
var testCommands = map[string]bool{"configureFailPoint": true, "waitForFailPoint": true}

// unknownCommand is the CommandNotFound error for a command this server
// does not run, naming the setting when it is a disabled test command.
func unknownCommand(name string) *commandError {
	if testCommands[name] {
		return errorf(codeCommandNotFound, "CommandNotFound",
			"no such command: '%s' (a test command: enable it with Config.EnableTestCommands, as mongod's enableTestCommands)", name)
	}
	return errorf(codeCommandNotFound, "CommandNotFound", "no such command: '%s'", name)
}

// netOptions is getCmdLineOpts' parsed.net: what this server listens on and
// admits, in mongod's option names.
func (s *Server) netOptions() bson.D {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	d := bson.D{{Key: "bindIp", Value: host}, {Key: "maxIncomingConnections", Value: int32(s.cfg.MaxConnections)}}
	if s.cfg.TLS != nil {
		d = append(d, bson.E{Key: "tls", Value: bson.D{{Key: "mode", Value: "requireTLS"}}})
	}
	return d
}

// authorization is getCmdLineOpts' security.authorization.
func (s *Server) authorization() string {
	if s.auth == nil {
		return "disabled"
	}
	return "enabled"
}

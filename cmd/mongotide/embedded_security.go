package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mongotide/mongotide/embedded"
	"github.com/spf13/pflag"
)

// exposureFlags are the `embedded` command's connection-limit and security
// flags.
type exposureFlags struct {
	auth               bool
	users              []string
	usersFile          string
	tlsCert, tlsKey    string
	enableTestCommands bool
}

func (x *exposureFlags) register(f *pflag.FlagSet, cfg *embedded.Config) {
	f.BoolVar(&x.auth, "auth", false, "require SCRAM-SHA-256 authentication (users from --user or --users-file, in the admin database)")
	f.StringArrayVar(&x.users, "user", nil, "a user as NAME:PASSWORD (repeatable; needs --auth)")
	f.StringVar(&x.usersFile, "users-file", "", "file of users, one NAME:PASSWORD a line, # comments (needs --auth)")
	f.StringVar(&x.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve TLS only (with --tls-key)")
	f.StringVar(&x.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.BoolVar(&x.enableTestCommands, "enable-test-commands", false,
		"allow configureFailPoint/waitForFailPoint (default: on without --dir, a test server; off with --dir)")
	f.IntVar(&cfg.MaxConnections, "max-connections", embedded.DefaultMaxConnections, "refuse connections over this many (mongod's maxIncomingConnections)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close connections idle this long (0: never; drivers do not expect it, see docs/embedded.md)")
	f.DurationVar(&cfg.MessageReadTimeout, "message-read-timeout", embedded.DefaultMessageReadTimeout, "drop a client that stops sending this long inside a message")
}

// apply puts the flags into cfg and warns on stderr about a server that
// anyone on the network may use.
func (x *exposureFlags) apply(f *pflag.FlagSet, cfg *embedded.Config, stderr io.Writer) error {
	cfg.EnableTestCommands = x.enableTestCommands
	if !f.Changed("enable-test-commands") {
		cfg.EnableTestCommands = cfg.Dir == ""
	}
	users, err := x.loadUsers()
	if err != nil {
		return err
	}
	switch {
	case x.auth && len(users) == 0:
		return errors.New("--auth needs at least one user: --user NAME:PASSWORD or --users-file FILE")
	case !x.auth && len(users) > 0:
		return errors.New("--user and --users-file need --auth")
	}
	cfg.Users = users
	if (x.tlsCert == "") != (x.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if x.tlsCert != "" {
		kp, err := tls.LoadX509KeyPair(x.tlsCert, x.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	}
	if !embedded.IsLoopback(cfg.Addr) && !x.auth {
		fmt.Fprintf(stderr, "WARNING: --addr %s listens beyond loopback WITHOUT authentication: anyone who can reach it can read, change and delete every database. Use --auth --user NAME:PASSWORD and --tls-cert/--tls-key, or --addr 127.0.0.1:PORT.\n", cfg.Addr)
	}
	return nil
}

func (x *exposureFlags) loadUsers() ([]embedded.User, error) {
	var users []embedded.User
	for _, s := range x.users {
		u, err := parseUser(s)
		if err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		users = append(users, u)
	}
	if x.usersFile == "" {
		return users, nil
	}
	f, err := os.Open(x.usersFile)
	if err != nil {
		return nil, fmt.Errorf("--users-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		u, err := parseUser(s)
		if err != nil {
			return nil, fmt.Errorf("--users-file %s:%d: %w", x.usersFile, line, err)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--users-file: %w", err)
	}
	return users, nil
}

// parseUser reads NAME:PASSWORD (the password may contain ':').
func parseUser(s string) (embedded.User, error) {
	name, pw, ok := strings.Cut(s, ":")
	if !ok || name == "" || pw == "" {
		return embedded.User{}, errors.New("want NAME:PASSWORD with both parts non-empty")
	}
	return embedded.User{Name: name, Password: pw}, nil
}

package embedded

import (
	"context"
	"log/slog"
	"time"
)

// logCommand logs one executed command at Debug level (mongotide embedded
// -v): its name, namespace, connection, duration and, when it failed, the
// error code. Nothing is computed unless Debug is enabled, so logging costs
// nothing on the hot path by default.
func (s *Server) logCommand(ctx context.Context, connID int64, req *request, res result, took time.Duration) {
	if !s.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("cmd", req.Name),
		slog.String("ns", commandNS(req)),
		slog.Int64("conn", connID),
		slog.Duration("duration", took),
	}
	switch {
	case res.closeConn:
		attrs = append(attrs, slog.Bool("closedConnection", true))
	case len(res.body) > 0 && res.body[0].Key == "ok" && res.body[0].Value == 0.0:
		code, _ := lookup(res.body, "code")
		name, _ := lookup(res.body, "codeName")
		attrs = append(attrs, slog.Any("code", code), slog.Any("codeName", name))
	}
	s.logger.LogAttrs(ctx, slog.LevelDebug, "command", attrs...)
}

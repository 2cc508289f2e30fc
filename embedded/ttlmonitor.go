package embedded

import (
	"errors"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
)

// ttlMonitor deletes the documents TTL indexes expire, every
// Config.TTLMonitorInterval, like mongod's TTLMonitor. The deletes are
// ordinary ones: change streams see a delete event for each. It stops with
// the server.
func (s *Server) ttlMonitor() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.TTLMonitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			n, err := s.engine.ExpireTTL(s.cfg.Clock())
			if err != nil && !errors.Is(err, engine.ErrClosed) {
				s.logger.Warn("TTL monitor: deleting expired documents failed", "err", err)
			}
			if n > 0 {
				s.logger.Debug("TTL monitor: deleted expired documents", "n", n)
			}
		}
	}
}

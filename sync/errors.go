package sync

import "errors"

// ErrInvalidConfig wraps every problem New finds in a Config.
var ErrInvalidConfig = errors.New("sync: invalid config")

// ErrStopped is returned by operations that need a running Syncer after Stop
// (or before Start).
var ErrStopped = errors.New("sync: syncer is not running")

// ErrNoResumePoint is returned when the remote change stream did not yield a
// resume token to bootstrap from.
var ErrNoResumePoint = errors.New("sync: remote change stream gave no resume token")

// ErrGatewayRemote is returned by the operations that need the remote
// database itself (Verify, Reconcile, Compact, Replicas, ForgetReplica,
// Pending, ResetLocal) when the remote is a gateway (Config.Gateway).
var ErrGatewayRemote = errors.New("sync: not available when syncing through a gateway")

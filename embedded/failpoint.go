package embedded

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// failpoints holds the configured failpoints: failCommand, and
// failGetMoreAfterCursorCheckout (used by the change-stream spec tests).
type failpoints struct {
	// armed mirrors len(m), written under mu: every command checks
	// failpoints, and with none set (the normal case) one atomic load
	// spares it the mutex and the namespace string.
	armed atomic.Int32
	mu    sync.Mutex
	m     map[string]*failpoint
	// entered counts activations per failpoint name over the server's
	// life; configureFailPoint reports it as "count", as MongoDB does.
	entered map[string]int64
	// enteredCh is closed (and replaced) whenever a failpoint is entered,
	// waking waitForFailPoint.
	enteredCh chan struct{}
}

func newFailpoints() *failpoints {
	return &failpoints{m: make(map[string]*failpoint), entered: make(map[string]int64), enteredCh: make(chan struct{})}
}

// failpoint is one configured failpoint, following MongoDB's semantics:
// mode {times: n} fires on the next n matching commands, {skip: n} lets n
// matching commands pass and then fires on every one, alwaysOn fires every
// time, {activationProbability: p} fires with probability p.
type failpoint struct {
	name        string
	times       int64 // remaining activations when limited
	limited     bool
	skip        int64
	probability float64 // 0 = always
	commands    map[string]bool
	appName     string
	namespace   string // "db.coll": only commands on it fail
	act         failAction
}

// failAction is what a matching command suffers.
type failAction struct {
	// afterCheckout is set for failGetMoreAfterCursorCheckout: the error
	// happens inside getMore, so the cursor dies and change-stream labels
	// apply. failCommand fails a command before it starts.
	afterCheckout bool
	closeConn     bool
	errorCode     *int32
	// labels, when non-nil, replace the labels the server would add.
	labels    []string
	blockTime time.Duration
	wce       bson.D
	// extra fields for the error reply (data.errorExtraInfo).
	extra bson.D
}

var supportedFailpoints = map[string]bool{
	"failCommand": true, "failGetMoreAfterCursorCheckout": true, onPrimaryTransactionalWrite: true,
}

// match returns the action for a command, consuming one activation.
func (f *failpoints) match(cmd, appName string, ns func() string) *failAction {
	if f.armed.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) == 0 || cmd == "configureFailPoint" {
		return nil
	}
	for _, name := range []string{"failCommand", "failGetMoreAfterCursorCheckout"} {
		fp := f.m[name]
		if fp == nil || !fp.commands[cmd] {
			continue
		}
		if fp.appName != "" && fp.appName != appName {
			continue
		}
		if fp.namespace != "" && fp.namespace != ns() {
			continue
		}
		if !f.activate(fp) {
			continue
		}
		act := fp.act
		return &act
	}
	return nil
}

// activate applies fp's mode to one matching event, reporting whether the
// failpoint fires; f.mu must be held.
func (f *failpoints) activate(fp *failpoint) bool {
	if fp.skip > 0 {
		fp.skip--
		return false
	}
	if fp.probability > 0 && rand.Float64() >= fp.probability {
		return false
	}
	f.entered[fp.name]++
	close(f.enteredCh)
	f.enteredCh = make(chan struct{})
	if fp.limited {
		fp.times--
		if fp.times <= 0 {
			delete(f.m, fp.name)
			f.armed.Store(int32(len(f.m)))
		}
	}
	return true
}

// cmdConfigureFailPoint implements configureFailPoint on admin.
func cmdConfigureFailPoint(_ context.Context, s *Server, req *request) (bson.D, error) {
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "configureFailPoint may only be run against the admin database")
	}
	name, ok := req.Body[0].Value.(string)
	if !ok {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "configureFailPoint must name a failpoint (string)")
	}
	if !supportedFailpoints[name] {
		return nil, errorf(codeBadValue, "BadValue", "unknown failpoint '%s' (supported: failCommand, failGetMoreAfterCursorCheckout, onPrimaryTransactionalWrite)", name)
	}
	modeV, ok := lookup(req.Body, "mode")
	if !ok {
		return nil, errorf(codeBadValue, "BadValue", "configureFailPoint requires mode")
	}
	fp := &failpoint{name: name, commands: map[string]bool{}}
	off := false
	switch m := modeV.(type) {
	case string:
		switch m {
		case "off":
			off = true
		case "alwaysOn":
		default:
			return nil, errorf(codeBadValue, "BadValue", "unknown failpoint mode %q (want \"off\", \"alwaysOn\", {times: n}, {skip: n} or {activationProbability: p})", m)
		}
	case bson.D:
		var ce *commandError
		if off, ce = parseModeDoc(m, fp); ce != nil {
			return nil, ce
		}
	default:
		return nil, errorf(codeBadValue, "BadValue", "failpoint mode must be a string or a document")
	}
	if !off && name == onPrimaryTransactionalWrite {
		if ce := parseTxnWriteData(req.Body, fp); ce != nil {
			return nil, ce
		}
	} else if !off {
		if ce := parseFailData(req.Body, fp); ce != nil {
			return nil, ce
		}
	}
	s.failpoints.mu.Lock()
	if off {
		delete(s.failpoints.m, name)
	} else {
		s.failpoints.m[name] = fp
	}
	s.failpoints.armed.Store(int32(len(s.failpoints.m)))
	count := s.failpoints.entered[name]
	s.failpoints.mu.Unlock()
	return bson.D{{Key: "count", Value: count}}, nil
}

// parseModeDoc parses a {times: n}, {skip: n} or {activationProbability: p}
// mode into fp, reporting whether it turns the failpoint off. As mongod
// does, the first of times, skip, activationProbability present decides
// and the others are ignored: drivers' helpers send {times: n, skip: 0}.
func parseModeDoc(m bson.D, fp *failpoint) (off bool, ce *commandError) {
	if v, ok := lookup(m, "times"); ok {
		n, ok := asInt64(v)
		if !ok || n < 0 {
			return false, errorf(codeBadValue, "BadValue", "mode.times must be a non-negative integer")
		}
		fp.limited, fp.times = true, n
		return n == 0, nil
	}
	if v, ok := lookup(m, "skip"); ok {
		n, ok := asInt64(v)
		if !ok || n < 0 {
			return false, errorf(codeBadValue, "BadValue", "mode.skip must be a non-negative integer")
		}
		fp.skip = n
		return false, nil
	}
	if v, ok := lookup(m, "activationProbability"); ok {
		p, ok := v.(float64)
		if !ok || p < 0 || p > 1 {
			return false, errorf(codeBadValue, "BadValue", "mode.activationProbability must be a number between 0 and 1")
		}
		fp.probability = p
		return p == 0, nil
	}
	return false, errorf(codeBadValue, "BadValue", "failpoint mode document must have one of times, skip, activationProbability")
}

func parseFailData(body bson.D, fp *failpoint) *commandError {
	dv, _ := lookup(body, "data")
	data, _ := dv.(bson.D)
	if fp.name == "failGetMoreAfterCursorCheckout" {
		fp.commands["getMore"] = true
		fp.act.afterCheckout = true
	}
	for _, e := range data {
		switch e.Key {
		case "failCommands":
			arr, ok := e.Value.(bson.A)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.failCommands must be an array of command names")
			}
			for _, c := range arr {
				name, ok := c.(string)
				if !ok {
					return errorf(codeTypeMismatch, "TypeMismatch", "data.failCommands must contain strings")
				}
				fp.commands[name] = true
				// Drivers spell some commands two ways.
				switch name {
				case "isMaster":
					fp.commands["ismaster"] = true
				case "findAndModify":
					fp.commands["findandmodify"] = true
				}
			}
		case "closeConnection":
			b, ok := e.Value.(bool)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.closeConnection must be a boolean")
			}
			fp.act.closeConn = b
		case "errorCode":
			n, ok := asInt64(e.Value)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.errorCode must be an integer")
			}
			c := int32(n)
			fp.act.errorCode = &c
		case "errorLabels":
			arr, ok := e.Value.(bson.A)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.errorLabels must be an array of strings")
			}
			fp.act.labels = []string{}
			for _, l := range arr {
				s, ok := l.(string)
				if !ok {
					return errorf(codeTypeMismatch, "TypeMismatch", "data.errorLabels must contain strings")
				}
				fp.act.labels = append(fp.act.labels, s)
			}
		case "blockConnection":
			b, ok := e.Value.(bool)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.blockConnection must be a boolean")
			}
			if b && fp.act.blockTime == 0 {
				fp.act.blockTime = -1 // resolved below from blockTimeMS
			}
		case "blockTimeMS":
			n, ok := asInt64(e.Value)
			if !ok || n < 0 {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.blockTimeMS must be a non-negative integer")
			}
			if blockOn(data) {
				fp.act.blockTime = time.Duration(n) * time.Millisecond
			}
		case "appName":
			s, ok := e.Value.(string)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.appName must be a string")
			}
			fp.appName = s
		case "writeConcernError":
			d, ok := e.Value.(bson.D)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.writeConcernError must be a document")
			}
			fp.act.wce = d
		case "failInternalCommands":
			// This server runs no internal commands, so there is nothing
			// more to fail.
			if _, ok := e.Value.(bool); !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.failInternalCommands must be a boolean")
			}
		case "namespace":
			ns, ok := e.Value.(string)
			if !ok || !strings.Contains(ns, ".") {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.namespace must be a \"db.collection\" string")
			}
			fp.namespace = ns
		case "errorExtraInfo":
			d, ok := e.Value.(bson.D)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.errorExtraInfo must be a document")
			}
			fp.act.extra = d
		default:
			return errorf(codeBadValue, "BadValue", "unsupported failCommand data field %q", e.Key)
		}
	}
	if fp.act.blockTime < 0 {
		return errorf(codeBadValue, "BadValue", "data.blockConnection requires data.blockTimeMS")
	}
	if len(fp.commands) == 0 {
		return errorf(codeBadValue, "BadValue", "failCommand requires data.failCommands (a non-empty array of command names)")
	}
	if !fp.act.closeConn && fp.act.errorCode == nil && fp.act.wce == nil && fp.act.blockTime == 0 {
		return errorf(codeBadValue, "BadValue", "failCommand data must set closeConnection, errorCode, writeConcernError or blockConnection")
	}
	return nil
}

func blockOn(data bson.D) bool {
	v, _ := lookup(data, "blockConnection")
	return v == true
}

// cmdWaitForFailPoint blocks until the named failpoint has been entered
// timesEntered times in all (configureFailPoint's count plus the number to
// wait for), or maxTimeMS passes (MaxTimeMSExpired).
func cmdWaitForFailPoint(ctx context.Context, s *Server, req *request) (bson.D, error) {
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "waitForFailPoint may only be run against the admin database")
	}
	name, ok := req.Body[0].Value.(string)
	if !ok || !supportedFailpoints[name] {
		return nil, errorf(codeBadValue, "BadValue", "waitForFailPoint must name a supported failpoint (failCommand, failGetMoreAfterCursorCheckout, onPrimaryTransactionalWrite)")
	}
	tv, _ := lookup(req.Body, "timesEntered")
	want, ok := asInt64(tv)
	if !ok || want < 0 {
		return nil, errorf(codeBadValue, "BadValue", "waitForFailPoint requires timesEntered (a non-negative integer)")
	}
	if _, ok := maxTimeMS(req.Body); !ok {
		return nil, errorf(codeBadValue, "BadValue", "waitForFailPoint requires maxTimeMS")
	}
	for {
		s.failpoints.mu.Lock()
		n, ch := s.failpoints.entered[name], s.failpoints.enteredCh
		s.failpoints.mu.Unlock()
		if n >= want {
			return bson.D{}, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err() // the dispatcher maps a deadline to MaxTimeMSExpired
		}
	}
}

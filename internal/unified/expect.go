package unified

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// serverErrorInfo gathers what the server said in an error: codes, code
// names and labels, whatever the driver's error type.
type serverErrorInfo struct {
	codes  []int
	names  []string
	labels []string
}

func extractServerError(err error) (serverErrorInfo, bool) {
	var info serverErrorInfo
	var ce mongo.CommandError
	var we mongo.WriteException
	var bwe mongo.BulkWriteException
	switch {
	case errors.As(err, &ce):
		info.codes = []int{int(ce.Code)}
		info.names = []string{ce.Name}
		info.labels = ce.Labels
	case errors.As(err, &we):
		if we.WriteConcernError != nil {
			info.codes = append(info.codes, we.WriteConcernError.Code)
			info.names = append(info.names, we.WriteConcernError.Name)
		}
		for _, w := range we.WriteErrors {
			info.codes = append(info.codes, w.Code)
			if n, ok := w.Raw.Lookup("codeName").StringValueOK(); ok {
				info.names = append(info.names, n)
			}
		}
		info.labels = we.Labels
	case errors.As(err, &bwe):
		if bwe.WriteConcernError != nil {
			info.codes = append(info.codes, bwe.WriteConcernError.Code)
			info.names = append(info.names, bwe.WriteConcernError.Name)
		}
		for _, w := range bwe.WriteErrors {
			info.codes = append(info.codes, w.Code)
			if n, ok := w.Raw.Lookup("codeName").StringValueOK(); ok {
				info.names = append(info.names, n)
			}
		}
		info.labels = bwe.Labels
	default:
		return info, false
	}
	return info, true
}

func isExpectErrorField(k string) bool {
	switch k {
	case "isError", "isClientError", "errorContains", "errorCode", "errorCodeName", "errorLabelsContain", "errorLabelsOmit", "expectResult":
		return true
	}
	return false
}

// checkError evaluates an expectedError against the operation's error (and
// its partial result, for expectResult).
func (st *testState) checkError(exp bson.D, opErr error, res opResult) error {
	for _, e := range exp {
		if !isExpectErrorField(e.Key) {
			return skipf("unsupported expectError field %q", e.Key)
		}
	}
	info, isServer := extractServerError(opErr)
	for _, e := range exp {
		switch e.Key {
		case "isError":
		case "isClientError":
			want, _ := e.Value.(bool)
			// Network errors count as client errors in the unified format.
			got := !isServer || mongo.IsNetworkError(opErr)
			if want != got {
				return fmt.Errorf("expectError.isClientError=%v, got error %q (client error: %v)", want, opErr, got)
			}
		case "errorContains":
			s, _ := e.Value.(string)
			if !strings.Contains(strings.ToLower(opErr.Error()), strings.ToLower(s)) {
				return fmt.Errorf("expectError.errorContains %q, got %q", s, opErr)
			}
		case "errorCode":
			want, _ := toInt64(e.Value)
			if !isServer {
				return fmt.Errorf("expectError.errorCode %d, got a non-server error %q", want, opErr)
			}
			found := false
			for _, c := range info.codes {
				if int64(c) == want {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("expectError.errorCode %d, got codes %v: %q", want, info.codes, opErr)
			}
		case "errorCodeName":
			want, _ := e.Value.(string)
			found := false
			for _, n := range info.names {
				if strings.EqualFold(n, want) {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("expectError.errorCodeName %q, got %v: %q", want, info.names, opErr)
			}
		case "errorLabelsContain", "errorLabelsOmit":
			for _, x := range asArray(e.Value) {
				label, _ := x.(string)
				has := hasLabel(opErr, info, label)
				if e.Key == "errorLabelsContain" && !has {
					return fmt.Errorf("expectError: want label %q, got labels %v: %q", label, info.labels, opErr)
				}
				if e.Key == "errorLabelsOmit" && has {
					return fmt.Errorf("expectError: want no label %q, got labels %v", label, info.labels)
				}
			}
		case "expectResult":
			if err := st.matchResult(e.Value, res); err != nil {
				return fmt.Errorf("expectError.expectResult: %w", err)
			}
		}
	}
	return nil
}

func hasLabel(err error, info serverErrorInfo, label string) bool {
	for _, l := range info.labels {
		if l == label {
			return true
		}
	}
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}

package resume

// PutRawForTest lets the conformance tests store bytes that Save would reject.
func PutRawForTest(s *MemoryStore, key string, raw []byte) { s.putRaw(key, raw) }

package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Journal format (version 2). A journal file starts with a 20-byte header:
// the magic "MTJRNL02", the journal's sequence number (uint64) and a
// CRC-32C of those 16 bytes; it is written and fsynced before the manifest
// names the file, so an empty or headerless journal is damage, never a
// crash artefact. Records follow, each framed as
//
//	uint32 payload length | uint32 CRC-32C of the payload |
//	uint32 CRC-32C of the previous 8 bytes | payload (one commit)
//
// The header checksum tells a damaged length field (corruption) from a
// record cut short by a crash (a torn tail, which can only be the last
// record of the newest journal).

const (
	journalMagic     = "MTJRNL02"
	journalHeaderLen = 20
	recordHeaderLen  = 12
)

func journalHeader(seq uint64) []byte {
	b := make([]byte, 0, journalHeaderLen)
	b = append(b, journalMagic...)
	b = binary.LittleEndian.AppendUint64(b, seq)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// appendRecord frames payload (already at dst[recordHeaderLen:]): dst must
// have recordHeaderLen bytes reserved in front of the payload.
func frameRecord(buf []byte) {
	payload := buf[recordHeaderLen:]
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(payload, crcTable))
	binary.LittleEndian.PutUint32(buf[8:12], crc32.Checksum(buf[0:8], crcTable))
}

// journalDamage describes a record that is neither intact nor a torn tail.
type journalDamage struct {
	File   string
	Offset int64
	Reason string
	// Next is the offset of the next intact record after the damage
	// (Resync), or the file size when there is none.
	Next int64
}

func (d *journalDamage) Error() string {
	return fmt.Sprintf("engine: journal %s is damaged at offset %d: %s", d.File, d.Offset, d.Reason)
}

// recordAt checks the record at off of data and returns its payload and
// end, or a reason it is not intact. short reports that the record runs
// past the end of data (a torn tail if it is the last thing in the file).
func recordAt(data []byte, off int64) (payload []byte, end int64, short bool, reason string) {
	rest := data[off:]
	if len(rest) < recordHeaderLen {
		return nil, 0, true, "incomplete record header"
	}
	if crc32.Checksum(rest[0:8], crcTable) != binary.LittleEndian.Uint32(rest[8:12]) {
		return nil, 0, false, "record header checksum mismatch"
	}
	n := int64(binary.LittleEndian.Uint32(rest[0:4]))
	if n > maxRecord {
		return nil, 0, false, "record length out of range"
	}
	if recordHeaderLen+n > int64(len(rest)) {
		return nil, 0, true, "record runs past the end of the file"
	}
	payload = rest[recordHeaderLen : recordHeaderLen+n]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(rest[4:8]) {
		return nil, 0, false, "record checksum mismatch"
	}
	return payload, off + recordHeaderLen + n, false, ""
}

// resync finds the next intact record after a damaged one at off.
func resync(data []byte, off int64) int64 {
	for p := off + 1; p+recordHeaderLen <= int64(len(data)); p++ {
		if _, _, _, reason := recordAt(data, p); reason == "" {
			return p
		}
	}
	return int64(len(data))
}

// scanJournal calls fn for every intact record of a journal's contents.
// newest says whether a torn tail is allowed (only the newest journal can
// end in one). It returns the length of the intact prefix and, when the
// journal ends in a torn record, torn = true. Damage anywhere else is
// returned as *journalDamage; with repair it is reported to onDamage and
// the scan continues at the next intact record.
func scanJournal(name string, data []byte, seq uint64, newest, repair bool,
	fn func(off int64, payload []byte) error, onDamage func(*journalDamage)) (good int64, torn bool, err error) {
	if len(data) == 0 {
		return 0, false, &journalDamage{File: name, Reason: "the journal is empty (it was emptied after it was created)"}
	}
	if len(data) < journalHeaderLen || !bytes.Equal(data[:journalHeaderLen], journalHeader(seq)) {
		return 0, false, &journalDamage{File: name, Reason: fmt.Sprintf("bad journal header (not journal %d in format 2)", seq)}
	}
	off := int64(journalHeaderLen)
	for off < int64(len(data)) {
		payload, end, short, reason := recordAt(data, off)
		if reason == "" {
			if err := fn(off, payload); err != nil {
				d := &journalDamage{File: name, Offset: off, Reason: "record cannot be replayed: " + err.Error(), Next: end}
				if !repair {
					return off, false, d
				}
				onDamage(d)
			}
			off = end
			continue
		}
		if newest && (short || allZero(data[off:]) || (reason == "record checksum mismatch" && lastRecordEnds(data, off))) {
			return off, true, nil
		}
		d := &journalDamage{File: name, Offset: off, Reason: reason, Next: resync(data, off)}
		if !repair {
			return off, false, d
		}
		onDamage(d)
		off = d.Next
	}
	return off, false, nil
}

// lastRecordEnds reports whether the record at off (whose header is
// intact) ends exactly at the end of data.
func lastRecordEnds(data []byte, off int64) bool {
	n := int64(binary.LittleEndian.Uint32(data[off : off+4]))
	return off+recordHeaderLen+n == int64(len(data))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readAll reads a whole file (journals are bounded by CompactBytes).
func readAll(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size)
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return buf[:n], nil
	}
	return buf, err
}

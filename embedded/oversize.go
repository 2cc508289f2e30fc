package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/wire"
)

// maxInternalBSONSize is mongod's BSONObjMaxInternalSize: a command or a
// reply may exceed maxBsonObjectSize by 16 KiB, room for the command's own
// fields around a document of the maximum size.
const maxInternalBSONSize = wire.MaxBSONObjectSize + 16*1024

const codeBSONObjectTooLarge int32 = 10334

// checkMsgSizes refuses an OP_MSG whose body or a sequence document is over
// maxInternalBSONSize with 10334 BSONObjectTooLarge, in mongod's words;
// the connection stays usable. Documents between maxBsonObjectSize and
// this bound reach the command, which refuses them itself (an insert
// answers a write error 10334 for that document only).
func checkMsgSizes(m *wire.Msg) *commandError {
	if n := len(m.Body); n > maxInternalBSONSize {
		return errorf(codeBSONObjectTooLarge, "BSONObjectTooLarge",
			"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB): the command document", n, n, maxInternalBSONSize)
	}
	for _, seq := range m.Sequences {
		for i, d := range seq.Documents {
			if n := len(d); n > maxInternalBSONSize {
				return errorf(codeBSONObjectTooLarge, "BSONObjectTooLarge",
					"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB): document %d of %q", n, n, maxInternalBSONSize, i, seq.Identifier)
			}
		}
	}
	return nil
}

// replyTooLarge is the reply sent instead of one over maxInternalBSONSize
// (a client would refuse it, and mongod cannot build it either).
func replyTooLarge(n int) *commandError {
	return errorf(codeBSONObjectTooLarge, "BSONObjectTooLarge",
		"the reply would be %d bytes, over the %d-byte limit of a reply document (maxBsonObjectSize + 16 KiB): ask for less per batch (batchSize) or project fewer fields", n, maxInternalBSONSize)
}

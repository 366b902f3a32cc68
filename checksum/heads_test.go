package checksum_test

import (
	"testing"

	"github.com/modmirror/modmirror/checksum"
	"github.com/modmirror/modmirror/checksum/headstoretest"
)

func TestFileHeads(t *testing.T) {
	headstoretest.Run(t, checksum.FileHeads(t.TempDir()))
}

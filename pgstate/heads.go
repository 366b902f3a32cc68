package pgstate

import (
	"bytes"
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb"

	"github.com/modmirror/modmirror/checksum"
)

// Heads are the latest verified tree heads of the checksum databases the
// mirror verifies against, a checksum.HeadStore shared by the replicas.
type Heads struct{ db *DB }

var _ checksum.HeadStore = (*Heads)(nil)

// ReadHead implements checksum.HeadStore.
func (h *Heads) ReadHead(ctx context.Context, name string) ([]byte, error) {
	var head []byte
	err := h.db.pool.QueryRow(ctx, "SELECT head FROM mirror_sumdb_heads WHERE name = $1", name).Scan(&head)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, h.db.fail(err)
	}
	return head, nil
}

// SwapHead implements checksum.HeadStore: one statement, so that of two
// replicas that verified different successors of one head, one wins and
// the other re-reads.
func (h *Heads) SwapHead(ctx context.Context, name string, old, new []byte) error {
	query, args := "UPDATE mirror_sumdb_heads SET head = $3 WHERE name = $1 AND head = $2", []any{name, old, new}
	if len(old) == 0 {
		query, args = "INSERT INTO mirror_sumdb_heads (name, head) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", []any{name, new}
	}
	tag, err := h.db.pool.Exec(ctx, query, args...)
	if err != nil {
		return h.db.fail(err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Nothing changed: the head is not old any more, unless it is new
	// already (a retry after an answer that was lost).
	if cur, err := h.ReadHead(ctx, name); err == nil && bytes.Equal(cur, new) {
		return nil
	}
	return sumdb.ErrWriteConflict
}

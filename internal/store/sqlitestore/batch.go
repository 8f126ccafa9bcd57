package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// batchRows is the most rows one batch INSERT statement adds (1<<batchLog).
// A statement per row spent about a quarter of RecordPlans' time in
// statement overhead; batches made it ~1.25x faster, and 32 to 256 rows a
// statement measured the same, so 64 keeps statements short.
const (
	batchLog  = 6
	batchRows = 1 << batchLog
)

// batchInsert is an INSERT of many rows a statement, prepared once on the
// write connection for every power of two up to batchRows, so that any
// count of rows takes few statements and none is prepared per call: 500
// rows take seven statements of 64, then one each of 32, 16 and 4.
type batchInsert struct {
	// bySize[k] adds 1<<k rows.
	bySize [batchLog + 1]*sql.Stmt
	// cols is the number of parameters of one row.
	cols int
}

// prepare prepares the statements. head is the statement up to VALUES,
// ending with its column list; tail is what follows the rows (an ON
// CONFLICT or RETURNING clause, or "").
func (b *batchInsert) prepare(ctx context.Context, db *sql.DB, head, tail string) error {
	b.cols = strings.Count(head[strings.LastIndex(head, "("):], ",") + 1
	row := "(" + placeholders(b.cols) + ")"
	for k := range b.bySize {
		q := head + " VALUES " + strings.Repeat(row+",", 1<<k-1) + row + " " + tail
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("%s (%d rows): %w", head, 1<<k, err)
		}
		b.bySize[k] = st
	}
	return nil
}

// next returns the statement for the largest batch of at most n > 0 rows,
// and that batch's size.
func (b *batchInsert) next(n int) (*sql.Stmt, int) {
	k := min(bits.Len(uint(n))-1, len(b.bySize)-1)
	return b.bySize[k], 1 << k
}

func (b *batchInsert) close() error {
	var errs []error
	for _, st := range b.bySize {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

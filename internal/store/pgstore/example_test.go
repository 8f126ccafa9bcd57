package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/pgstore"
	"github.com/herald/herald/internal/store/storetest"
)

// Open a store in a schema of its own (created and migrated on the first
// Open), deliver a notification to an inbox and read it back. The example
// needs a server, so it is compiled but not run by go test.
func ExampleOpen() {
	ctx := context.Background()
	url := os.Getenv("DATABASE_URL") // postgres://herald:secret@db:5432/herald?sslmode=require
	st, err := pgstore.Open(ctx, url, pgstore.Options{Schema: "herald", MaxConns: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	item := store.InboxItem{UserID: "ada", EventID: "ev-1", Message: "Your training is due"}
	added, err := storetest.DeliverInbox(ctx, st, []store.InboxItem{item, item})
	if err != nil {
		log.Fatal(err)
	}
	unread, err := st.UnreadCount(ctx, "ada")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added:", len(added), "unread:", unread)
}

package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/herald/herald/internal/store"
	"github.com/herald/herald/internal/store/sqlitestore"
	"github.com/herald/herald/internal/store/storetest"
)

// Open a store, deliver a notification to an inbox and read it back.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "herald-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "herald.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// The first load of an unknown person creates the default record.
	p, err := st.LoadPreferences(ctx, []string{"ada"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("inbox allowed:", p["ada"].SendNotificationToInbox, "time zone:", p["ada"].TimeZone)

	item := store.InboxItem{UserID: "ada", EventID: "ev-1", Message: "Your training is due"}
	added, err := storetest.DeliverInbox(ctx, st, []store.InboxItem{item, item})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added:", len(added))
	unread, err := st.UnreadCount(ctx, "ada")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("unread:", unread)
	// Output:
	// inbox allowed: true time zone: UTC
	// added: 1
	// unread: 1
}

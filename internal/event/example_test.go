package event_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/herald/herald/internal/event"
)

func ExampleParseStructured() {
	body := []byte(`{
		"specversion": "1.0",
		"id": "training-42-due",
		"source": "/training",
		"type": "com.example.training.due",
		"data": {
			"audience": {"users": ["alice", "bob", "alice"]},
			"notification": {
				"title": "Training due",
				"message": "Safety training is due on Friday.",
				"category": "training",
				"actions": [{"id": "open", "title": "Open course", "url": "https://example.com/courses/42"}]
			}
		}
	}`)
	ev, err := event.ParseStructured(body, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("recipients:", ev.Audience.Users)
	fmt.Println("title:", ev.Notification.Title)
	fmt.Println("message:", ev.Notification.Message)
	fmt.Println("category:", ev.Notification.Category)
	fmt.Println("urgency:", ev.Notification.Urgency)
	fmt.Println("action:", ev.Notification.Actions[0].Title, ev.Notification.Actions[0].URL)
	fmt.Println("id from source and id:", ev.ID == event.IDFor("/training", "training-42-due"))
	// Output:
	// recipients: [alice bob]
	// title: Training due
	// message: Safety training is due on Friday.
	// category: training
	// urgency: normal
	// action: Open course https://example.com/courses/42
	// id from source and id: true
}

// A refused event names every offending field.
func ExampleParseStructured_invalid() {
	body := []byte(`{
		"specversion": "1.0",
		"source": "/training",
		"type": "com.example.training.due",
		"data": {
			"audience": {"users": ["alice", "team/bob"]},
			"notification": {"message": "", "urgency": "urgent"}
		}
	}`)
	_, err := event.ParseStructured(body, time.Now())
	var ve *event.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Printf("%s: %s\n", fe.Field, fe.Problem)
		}
	}
	// Output:
	// id: required CloudEvents attribute is missing
	// data.audience.users[1]: a user id must not contain '/', '?' or '#'
	// data.notification.message: must not be empty
	// data.notification.urgency: must be one of low, normal, high; got "urgent"
}

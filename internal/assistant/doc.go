// Package assistant is herald's built-in Bot Framework assistant, the bot
// behind POST /api/messages and behind herald's own Direct Line.
//
// It does three things:
//   - it remembers where each person talks to it: every inbound activity
//     (a message, conversationUpdate, installationUpdate) stores or
//     refreshes a conversation reference, serviceUrl included, and a
//     removal retires it; the conversation channel sends notifications
//     into those conversations;
//   - it opens a dialog about a notification when a person chooses its
//     "Start conversation" action (an Adaptive Card Action.Submit, a
//     postBack, or the same action sent as an event from the inbox page);
//   - it answers the reply to a proactive message ("yes, tell me more")
//     with the notification's details.
//
// Dialogs are small and pluggable: one Dialog per notification category,
// with a default for the rest. It is not a language-understanding engine.
// Inbound HTTP requests are authenticated with bfauth; replies go through
// a conversation.Sender, so they reach Teams through the Connector and Web
// Chat through herald's Direct Line alike.
package assistant

// Package directline is herald's own Direct Line 3.0 endpoint: the REST
// and WebSocket protocol of the Bot Framework's Direct Line channel, served
// by herald itself, so that the official clients (botframework-webchat,
// botframework-directlinejs) talk to herald's assistant with
//
//	new DirectLine({ domain: "https://herald.example.com/v3/directline", token })
//
// It owns: secrets and tokens (HS256 JWTs keyed from the secret), starting
// and reconnecting conversations, posting and reading activities with
// watermarks, the WebSocket stream with its keep-alives and its one socket
// per conversation, and the in-process fan-out of new activities to open
// streams. Conversations are kept in a store.Transcripts, so a client that
// reconnects, to any herald process, gets what it missed.
//
// It must not: decide what the bot says (that is the Bot it is given),
// store conversation references (the assistant does, from the activities it
// receives), or assemble itself into herald's HTTP server (internal/app
// does).
//
// # Use
//
//	dl, err := directline.New(directline.Config{
//		Secret:      cfg.DirectLineSecret, // HERALD_DIRECTLINE_SECRET
//		PublicURL:   "https://herald.example.com",
//		Transcripts: st,                   // a store.Store
//		Bot:         assistant,            // OnActivity(ctx, activity.Activity) error
//		Logger:      logger,
//	})
//	mux.Handle(directline.BasePath, dl) // "/v3/directline/", prefix not stripped
//	...
//	ids, err := dl.Send(ctx, conversationID, reply) // the bot answers, in-process
//	...
//	dl.Shutdown(ctx) // beside http.Server.Shutdown: ends the WebSockets
//
// With no secret, New uses a random one kept in memory: clients then need
// tokens from (*Server).GenerateToken, which herald's routes call for a
// person they have authenticated; such tokens die with the process.
//
// # Protocol as served
//
// Under /v3/directline, with "Authorization: Bearer <secret or token>":
//
//	POST /tokens/generate           secret; body {user:{id,name}} optional -> {conversationId, token, expires_in}
//	POST /tokens/refresh            token -> a new token for the same conversation and user
//	POST /conversations             201 {conversationId, token, expires_in, streamUrl}; 200 if the token's conversation was started
//	GET  /conversations/{id}?watermark=w               {conversationId, token, expires_in, streamUrl}
//	GET  /conversations/{id}/activities?watermark=w    {activities, watermark}
//	POST /conversations/{id}/activities                {id}; 502 BotRejectedActivity if the Bot fails
//	GET  /conversations/{id}/stream?t=token&watermark=w  the WebSocket (streamUrl)
//	POST /conversations/{id}/upload                    501 NotImplemented
//	GET  /session/getsessionid                         501 NotImplemented (no OAuth token service)
//
// Errors are the Bot Framework's {"error":{"code","message"}} (see the Code
// constants): 401 without a credential, 403 for a bad or expired token
// (DirectLineJS reads 403 as "expired") or one for another conversation,
// 404 for a conversation never started.
//
// A token covers one conversation and, when minted with a user, forces
// from.id of what its bearer posts to that user; see VerifiedUser. The
// secret covers every conversation and is never accepted in a URL.
//
// Activities are stored with the server's timestamp, conversation,
// recipient (the bot), serviceUrl and channelId "directline", every other
// field as the client sent it, and no id: an activity's id is
// ActivityID(conversation, Seq), "{conversation}|0000007", and its
// watermark the Seq, both set when read. Typing is never stored: the
// client's goes to the Bot only, the bot's to open streams only.
// conversationUpdate goes to the Bot only.
//
// One WebSocket per conversation and process: a second one is closed with
// CollisionReason unless the first fails to answer a ping. Streams hear of
// appends in this process at once, and of appends by other processes at
// the next keep-alive. Browsers on other origins are served CORS headers
// (Authorization, Content-Type, Accept, X-Requested-With, x-ms-bot-agent)
// for Config.AllowedOrigins, any origin by default.
package directline

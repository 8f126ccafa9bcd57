package directline

import (
	"encoding/json"
	"net/http"

	"github.com/herald/herald/internal/activity"
)

// Error codes of the Direct Line error body {"error":{"code","message"}}.
// As in the Bot Framework service, the HTTP status and the code are stable;
// the message may change. Clients branch on the status: DirectLineJS treats
// 403 as an expired token and 404 as an ended conversation.
const (
	// CodeBadArgument: the request is malformed (400).
	CodeBadArgument = "BadArgument"
	// CodeMessageSizeTooBig: the activity is larger than Config.MaxActivityBytes (413).
	CodeMessageSizeTooBig = "MessageSizeTooBig"
	// CodeUnauthorized: no "Authorization: Bearer" credential (401).
	CodeUnauthorized = "Unauthorized"
	// CodeForbidden: the credential is not the secret nor a token signed
	// by this server, or the token is for another conversation (403).
	CodeForbidden = "Forbidden"
	// CodeTokenExpired: the token is past its expiry; get a new one from
	// whoever holds the secret (403, as the Bot Framework service answers).
	CodeTokenExpired = "TokenExpired"
	// CodeNotFound: no such conversation, or no such route (404).
	CodeNotFound = "NotFound"
	// CodeBotRejectedActivity: the bot returned an error for a posted
	// activity (502). The activity is stored and echoed all the same.
	CodeBotRejectedActivity = "BotRejectedActivity"
	// CodeNotImplemented: a Direct Line operation herald does not offer,
	// such as attachment upload (501).
	CodeNotImplemented = "NotImplemented"
	// CodeServiceError: the store failed or herald is shutting down (500, 503).
	CodeServiceError = "ServiceError"
)

// writeError renders the Direct Line ErrorResponse with status.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var body activity.ErrorResponse
	body.Error.Code = code
	body.Error.Message = message
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON renders v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

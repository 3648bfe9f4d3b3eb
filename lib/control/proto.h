/* SPDX-License-Identifier: MIT */
/*
 * Control protocol codec (docs/control-protocol.md): framing and the
 * key=value payloads of requests and responses. Pure functions on buffers,
 * shared by the server and the client.
 */
#ifndef GLUE_INTERNAL_CONTROL_PROTO_H
#define GLUE_INTERNAL_CONTROL_PROTO_H

#include <glue/control.h>

/* Bytes of the length prefix. */
#define GLUE_CONTROL_HDR 4
/* A whole framed response always fits in this many bytes. */
#define GLUE_CONTROL_RESPONSE_MAX 1024
/* A whole framed request always fits in this many bytes. */
#define GLUE_CONTROL_REQUEST_MAX 64

/*
 * Look at the start of a byte stream. Returns 1 and sets *payload_len when
 * a whole message is in buf[0..avail), 0 when more bytes are needed (with
 * *payload_len set once the prefix is complete, else 0), -EMSGSIZE when
 * the announced length exceeds GLUE_CONTROL_MAX_MESSAGE, -EBADMSG for an
 * empty message. The payload starts at buf + GLUE_CONTROL_HDR.
 */
int glue_control_frame_peek(const void *buf, size_t avail, size_t *payload_len);

/* Write req as a framed message (prefix + payload) to buf. Returns 0 and
 * sets *len, or -EINVAL (bad request), -EMSGSIZE (cap too small). */
int glue_control_encode_request(const struct glue_control_request *req, void *buf, size_t cap,
				size_t *len);

/*
 * Write resp, the answer to cmd, as a framed message. resp->status < 0
 * makes an error answer (cmd is then not needed; control characters in
 * resp->error become '?', long messages are cut). Returns 0 and sets *len,
 * or -EINVAL (a field out of range), -EMSGSIZE (cap too small).
 */
int glue_control_encode_response(enum glue_control_cmd cmd,
				 const struct glue_control_response *resp, void *buf, size_t cap,
				 size_t *len);

/*
 * Decode a request payload (without the prefix). Returns 0, or with a
 * message: -EPROTONOSUPPORT (another version), -EOPNOTSUPP (unknown
 * command), -EBADMSG (anything else malformed).
 */
int glue_control_decode_request(const void *payload, size_t len, struct glue_control_request *req);

/* Decode the payload of the answer to cmd. Same results as above. */
int glue_control_decode_response(enum glue_control_cmd cmd, const void *payload, size_t len,
				 struct glue_control_response *resp);

/* Wire name of a command ("info"...), NULL for an unknown one. */
const char *glue_control_cmd_name(enum glue_control_cmd cmd);

#endif

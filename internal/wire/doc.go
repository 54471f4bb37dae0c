// Package wire holds the JSON bodies of the callback-style SSE gateway protocol
// (shared/PROTOCOL.md): the connect and disconnect callbacks, the
// /internal/send request and answers, the gateway's error body and the AMQP
// message body.
//
// The types are plain data. Decoding is lenient where the protocol says so
// (unknown fields are ignored, header values may be a string or an array of
// strings) and encoding is exactly what the reference gateway sends or
// expects.
package wire

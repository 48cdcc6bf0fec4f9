"""The stdio JSON-lines protocol (PROTOCOL.md): wire format, schemas, client, server, and the failpoint channel."""

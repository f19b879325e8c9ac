#!/usr/bin/env python3
"""A loopback HTTP server for the `persam download` tests (stdlib only).

Serves the files of --dir; the first path component picks a behaviour:
  /ok/NAME      the file, with Range support (206 + Content-Range)
  /wrong/NAME   a file of the same size with other bytes (checksum mismatch)
  /short/NAME   a complete response holding only the first half of the file
  /drop/NAME    announces the whole file, sends half and closes the
                connection; a request with a Range header is served normally
                (so a second run resumes)
  /norange/NAME the file, ignoring Range (200 always)
Every request's path and Range header are appended to --log. Prints the port
on stdout once listening; runs until killed.
"""
import argparse
import http.server
import os
import re
import socketserver
import sys


def make_handler(root, log_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            with open(log_path, "a") as log:
                log.write("%s range=%s\n" % (self.path, self.headers.get("Range", "-")))
            parts = self.path.strip("/").split("/", 1)
            if len(parts) != 2:
                self.send_error(404)
                return
            mode, name = parts
            path = os.path.join(root, os.path.basename(name))
            if mode not in ("ok", "wrong", "short", "drop", "norange") or not os.path.isfile(path):
                self.send_error(404)
                return
            data = open(path, "rb").read()
            if mode == "wrong":
                data = bytes(b ^ 0x5A for b in data)
            if mode == "short":
                data = data[: len(data) // 2]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match and mode != "norange":
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % len(data))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "none" if mode == "norange" else "bytes")
            self.end_headers()
            if mode == "drop" and start == 0:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    socketserver.TCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), make_handler(args.dir, args.log)) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

import socket
import urllib.request

_attempt("connect to pypi.org:443", lambda: socket.create_connection(("pypi.org", 443), timeout=5))
_attempt("connect to 127.0.0.1:22", lambda: socket.create_connection(("127.0.0.1", 22), timeout=5))
_attempt(
    "download over HTTPS",
    lambda: urllib.request.urlopen("https://pypi.org/simple/", timeout=5).read(10),
)

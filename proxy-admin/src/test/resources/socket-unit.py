"""Holds a listening socket as a systemd .socket unit does, and runs a command with it as descriptor 3
(LISTEN_FDS=1, LISTEN_PID set), again each time the command exits: as Restart=always would, RUNS times in all.

    python3 socket-unit.py PORT RUNS blocking|nonblocking COMMAND...

Prints "listening PORT", then "started PID" and "exited STATUS" for each run.
"""
import os
import socket
import sys

port, runs, mode, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(1024)
sock.setblocking(mode != "nonblocking")
print("listening", sock.getsockname()[1], flush=True)
for _ in range(runs):
    pid = os.fork()
    if pid == 0:
        if sock.fileno() == 3:
            os.set_inheritable(3, True)
        else:
            os.dup2(sock.fileno(), 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.execvp(command[0], command)
    print("started", pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("exited", os.waitstatus_to_exitcode(status), flush=True)

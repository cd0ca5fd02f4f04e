#!/usr/bin/env python3
"""Hosts on one machine for what crosses a network: a client and K servers, each in its own
network namespace, joined through a "wire" namespace that adds one-way delay and packet loss
on each server's link. Needs root (CAP_NET_ADMIN), iproute2 and nftables; run as a script or
imported (bench/remote_hosts.py, apps/tests/hosts.rs).

    python3 tests/netns/hosts.py up zoo --servers 2       # prints the hosts as JSON
    ip netns exec zoo-s0 zoo-device-server --bind 10.78.1.2:7000 &
    python3 tests/netns/hosts.py link zoo 0 --delay-ms 1 --loss-percent 1
    ip netns exec zoo-client image-classifier train ... --remote ws://10.78.0.1:7000
    python3 tests/netns/hosts.py link zoo 0 --loss-percent 100  # a partition
    python3 tests/netns/hosts.py down zoo

Addresses: the client is 10.78.0.2 and reaches the wire at 10.78.0.1; server k is 10.78.{k+1}.2.
The wire does not route: it relays TCP, each server port P listened on at 10.78.0.1:(P + k),
which the servers reach too (Burn moves tensors between servers directly, to the address the
client gave).

Why a relay and not `tc netem`: the kernels of these machines are built without the netem
queueing discipline, and load no modules ("Specified qdisc kind is unknown"). So the delay is
added in user space, by the relay holding every chunk of bytes it reads for the link's delay
before writing it on, in each direction; loss is real, nftables dropping that share of the
packets on the server's link in both directions (TCP retransmits them, as on a lossy network).
The difference from netem: the client's TCP connection ends at the relay, so its congestion
window is not limited by the delay; what a request and its answer wait is. A partition is 100 %
loss: the relay's connection to the server stops carrying anything, as a cut cable would.
"""

import argparse
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

STATE_DIR = "/run/zoo-hosts"
PREFIX = "10.78"
# Relayed on every server link for `round_trip_ms`'s echo server.
ECHO_PORT = 7999


def sh(*command, namespace=None, check=True):
    if namespace:
        command = ("ip", "netns", "exec", namespace) + command
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def names(name, servers):
    return {"client": f"{name}-client", "wire": f"{name}-wire",
            "servers": [f"{name}-s{k}" for k in range(servers)]}


def state_path(name):
    return os.path.join(STATE_DIR, name)


def can_make_hosts():
    """Why this machine cannot make hosts, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    for tool in ["ip", "nft"]:
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
            return f"`{tool}` is not installed (Debian: iproute2, nftables)"
    probe = f"zoo-probe-{os.getpid()}"
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    sh("ip", "netns", "del", probe)
    return None


def up(name, servers, ports):
    """Makes the namespaces, their links and the relay for `ports` (and `ECHO_PORT`) of every
    server; returns the hosts' description."""
    down(name)
    ports = sorted(set(ports) | {ECHO_PORT})
    hosts = names(name, servers)
    for namespace in [hosts["client"], hosts["wire"]] + hosts["servers"]:
        sh("ip", "netns", "add", namespace)
        sh("ip", "link", "set", "lo", "up", namespace=namespace)
    # Link i joins the wire (end wI, address .1) and the client (i = 0) or server i - 1 (.2).
    for i, host in enumerate([hosts["client"]] + hosts["servers"]):
        wire_end, host_end = f"w{i}", f"h{i}"
        sh("ip", "link", "add", wire_end, "netns", hosts["wire"], "type", "veth",
           "peer", "name", host_end, "netns", host)
        sh("ip", "addr", "add", f"{PREFIX}.{i}.1/24", "dev", wire_end, namespace=hosts["wire"])
        sh("ip", "addr", "add", f"{PREFIX}.{i}.2/24", "dev", host_end, namespace=host)
        sh("ip", "link", "set", wire_end, "up", namespace=hosts["wire"])
        sh("ip", "link", "set", host_end, "up", namespace=host)
        if i > 0:
            # Servers reach each other through the relay too: Burn's data-parallel transfers
            # go from server to server, to the address the client knows the other by.
            sh("ip", "route", "add", "default", "via", f"{PREFIX}.{i}.1", namespace=host)
    sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=0", namespace=hosts["wire"])
    # The loss rules: one chain, a rule per server link and direction, set by `link`.
    sh("nft", "add table inet links", namespace=hosts["wire"])
    for hook in ["input", "output"]:
        sh("nft", f"add chain inet links {hook} {{ type filter hook {hook} priority 0; }}",
           namespace=hosts["wire"])
    os.makedirs(state_path(name), exist_ok=True)
    links = {str(k): {"delay_ms": 0.0, "loss_percent": 0.0} for k in range(servers)}
    write_json(os.path.join(state_path(name), "links.json"), links)
    description = {
        "name": name,
        "client": hosts["client"],
        "client_address": f"{PREFIX}.0.2",
        "servers": [{"namespace": ns, "address": f"{PREFIX}.{k + 1}.2",
                     "reached_at": {str(p): f"{PREFIX}.0.1:{p + k}" for p in ports}}
                    for k, ns in enumerate(hosts["servers"])],
        "ports": ports,
    }
    write_json(os.path.join(state_path(name), "hosts.json"), description)
    log = open(os.path.join(state_path(name), "relay.log"), "w")
    relay = subprocess.Popen(
        ["ip", "netns", "exec", hosts["wire"], sys.executable, os.path.abspath(__file__),
         "relay", name], stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    ready = relay.stdout.readline().strip()
    if ready != "relaying":
        raise RuntimeError(f"the relay did not start: {open(log.name).read()}")
    with open(os.path.join(state_path(name), "relay.pid"), "w") as f:
        f.write(str(relay.pid))
    return description


def link(name, server, delay_ms=None, loss_percent=None):
    """Sets server `server`'s link: one-way delay (each direction), packet loss (each direction)."""
    path = os.path.join(state_path(name), "links.json")
    with open(path) as f:
        links = json.load(f)
    settings = links[str(server)]
    if delay_ms is not None:
        settings["delay_ms"] = delay_ms
    if loss_percent is not None:
        settings["loss_percent"] = loss_percent
    write_json(path, links)
    wire = names(name, 0)["wire"]
    sh("nft", "flush table inet links", namespace=wire)
    for k, s in links.items():
        per_thousand = round(s["loss_percent"] * 10)
        if per_thousand <= 0:
            continue
        interface = f"w{int(k) + 1}"
        share = f"numgen random mod 1000 < {per_thousand} " if per_thousand < 1000 else ""
        for hook, match in [("input", "iifname"), ("output", "oifname")]:
            sh("nft", f'add rule inet links {hook} {match} "{interface}" {share}drop',
               namespace=wire)
    with open(os.path.join(state_path(name), "relay.pid")) as f:
        os.kill(int(f.read()), signal.SIGHUP)


def down(name):
    """Removes the hosts (their processes end with their namespaces' links)."""
    pid_file = os.path.join(state_path(name), "relay.pid")
    if os.path.exists(pid_file):
        with open(pid_file) as f:
            pid = int(f.read())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for namespace in sh("ip", "netns", "list").stdout.split():
        if namespace.startswith(f"{name}-"):
            # A process left inside would keep the namespace alive after its name is gone.
            for pid in sh("ip", "netns", "pids", namespace, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", namespace, check=False)
    if os.path.isdir(state_path(name)):
        for entry in os.listdir(state_path(name)):
            os.remove(os.path.join(state_path(name), entry))
        os.rmdir(state_path(name))


def write_json(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(value, f)
    os.replace(temporary, path)


def relay(name):
    """Runs in the wire namespace: for every server and port, accepts the client's connections
    and relays them to the server, each chunk held for the link's delay. Threads, not asyncio:
    the event loop's timers wake a millisecond late, more than the shortest delay."""
    with open(os.path.join(state_path(name), "hosts.json")) as f:
        hosts = json.load(f)
    links_path = os.path.join(state_path(name), "links.json")
    delays = {}

    def reload(*_):
        with open(links_path) as f:
            for k, s in json.load(f).items():
                delays[int(k)] = s["delay_ms"] / 1000.0

    reload()
    signal.signal(signal.SIGHUP, reload)

    def carry(source, destination, server):
        # Chunks leave in order, each when its own delay is over.
        chunks = queue.Queue()

        def send():
            try:
                while True:
                    due, data = chunks.get()
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if not data:
                        destination.shutdown(socket.SHUT_WR)
                        return
                    destination.sendall(data)
            except OSError:
                source.close()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while True:
                data = source.recv(1 << 16)
                chunks.put((time.monotonic() + delays[server], data))
                if not data:
                    break
        except OSError:
            chunks.put((0.0, b""))
        sender.join()

    def connected(client, server, port):
        try:
            upstream = socket.create_connection((hosts["servers"][server]["address"], port))
        except OSError:
            client.close()
            return
        for end in [client, upstream]:
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        there = threading.Thread(target=carry, args=(client, upstream, server), daemon=True)
        there.start()
        carry(upstream, client, server)
        there.join()
        client.close()
        upstream.close()

    def accept(listener, server, port):
        while True:
            client, _ = listener.accept()
            threading.Thread(target=connected, args=(client, server, port), daemon=True).start()

    for k in range(len(hosts["servers"])):
        for port in hosts["ports"]:
            listener = socket.create_server((f"{PREFIX}.0.1", port + k))
            threading.Thread(target=accept, args=(listener, k, port), daemon=True).start()
    print("relaying", flush=True)
    threading.Event().wait()


def round_trip_ms(name, server, port=ECHO_PORT, count=50):
    """The median time a byte takes to the server's port and back, through the relay: measured
    with an echo server in the server's namespace."""
    hosts_file = os.path.join(state_path(name), "hosts.json")
    with open(hosts_file) as f:
        hosts = json.load(f)
    target = hosts["servers"][server]
    echo = subprocess.Popen(
        ["ip", "netns", "exec", target["namespace"], sys.executable, "-c",
         "import socket\n"
         f"s = socket.create_server(('{target['address']}', {port}))\n"
         "print('ready', flush=True)\n"
         "c, _ = s.accept()\n"
         "while (b := c.recv(1)): c.sendall(b)\n"], stdout=subprocess.PIPE, text=True)
    try:
        echo.stdout.readline()
        host, relayed_port = target["reached_at"][str(port)].split(":")
        program = ("import socket, statistics, time\n"
                   f"c = socket.create_connection(('{host}', {relayed_port}))\n"
                   "c.setsockopt(6, 1, 1)\n"
                   "times = []\n"
                   f"for _ in range({count}):\n"
                   "    start = time.perf_counter(); c.sendall(b'x'); c.recv(1)\n"
                   "    times.append(time.perf_counter() - start)\n"
                   "print(statistics.median(times) * 1000)\n")
        result = sh(sys.executable, "-c", program, namespace=hosts["client"])
        return float(result.stdout)
    finally:
        echo.kill()
        echo.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("up", help="make the hosts")
    make.add_argument("name")
    make.add_argument("--servers", type=int, default=1)
    make.add_argument("--port", type=int, action="append", dest="ports",
                      help="a server port to relay (repeatable; default 7000)")
    change = commands.add_parser("link", help="set a server link's delay and loss")
    change.add_argument("name")
    change.add_argument("server", type=int)
    change.add_argument("--delay-ms", type=float)
    change.add_argument("--loss-percent", type=float)
    remove = commands.add_parser("down", help="remove the hosts")
    remove.add_argument("name")
    check = commands.add_parser("check", help="say whether this machine can make hosts")
    rtt = commands.add_parser("rtt", help="measure a server link's round trip, in ms")
    rtt.add_argument("name")
    rtt.add_argument("server", type=int)
    rtt.add_argument("--port", type=int, default=ECHO_PORT)
    run_relay = commands.add_parser("relay", help=argparse.SUPPRESS)
    run_relay.add_argument("name")
    args = parser.parse_args()
    if args.command == "check":
        reason = can_make_hosts()
        print(reason or "ok")
        sys.exit(0 if reason is None else 1)
    if args.command == "up":
        print(json.dumps(up(args.name, args.servers, args.ports or [7000]), indent=2))
    elif args.command == "link":
        link(args.name, args.server, args.delay_ms, args.loss_percent)
    elif args.command == "down":
        down(args.name)
    elif args.command == "rtt":
        print(f"{round_trip_ms(args.name, args.server, args.port):.3f}")
    elif args.command == "relay":
        relay(args.name)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# Multicast for tests: `recv GROUP PORT SECONDS IFADDR` joins GROUP on the interface holding
# IFADDR (the kernel sends the IGMP report) and prints how many datagrams arrived;
# `send GROUP PORT COUNT IFADDR` sends COUNT datagrams (TTL 1) out of that interface.
import socket, struct, sys, time

mode, group, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
n, ifaddr = float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
if mode == 'recv':
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('', port))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack('4s4s', socket.inet_aton(group), socket.inet_aton(ifaddr)))
    print('joined', flush=True)
    s.settimeout(0.2)
    got, end = 0, time.time() + n
    while time.time() < end:
        try:
            s.recv(2048)
            got += 1
        except socket.timeout:
            pass
    print(got, flush=True)
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    for i in range(int(n)):
        s.sendto(b'x' * 64, (group, port))
        time.sleep(0.02)

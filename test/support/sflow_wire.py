#!/usr/bin/python3
"""An independent reading of sFlow v5 datagrams, for the interop tests.

Reads the UDP payloads of pcap files with scapy, walks the sFlow XDR
structures here (sFlow v5 specification, sflow.org), and dissects each raw
packet header with scapy's own layers (Ethernet, 802.1Q, MPLS, IPv4, IPv6,
TCP, UDP, ICMP). Nothing is shared with Mamori's TypeScript decoders. Frames
are only dissected here, never built or sent.

Prints one JSON object per flow sample (one sampled packet): the raw header
when it holds IP, else the sampled IPv4/IPv6 record. bytes is the sampled
packet's IP length as sflowtool reports it (frame length less the stripped
bytes and the bytes before the IP header; a sampled IP record's own length),
frameBytes the frame length as the agent sent it; both times the rate.

    sflow_wire.py file.pcap [file.pcap ...]
"""
import json
import struct
import sys

from scapy.all import IP, UDP, Ether, rdpcap, load_contrib  # noqa: E402
from scapy.layers.inet import ICMP, TCP
from scapy.layers.inet6 import IPv6, _ICMPv6

load_contrib('mpls')


class Reader:
    def __init__(self, data, at=0, end=None):
        self.data, self.at, self.end = data, at, len(data) if end is None else end

    def u32(self):
        if self.at + 4 > self.end:
            raise ValueError('truncated')
        (v,) = struct.unpack_from('>I', self.data, self.at)
        self.at += 4
        return v

    def take(self, n):
        if self.at + n > self.end:
            raise ValueError('truncated')
        b = self.data[self.at:self.at + n]
        self.at += n
        return b

    def sub(self, n):
        r = Reader(self.data, self.at, self.at + n)
        self.take(n)
        return r


def transport(record, layer, proto, fragment):
    record['proto'] = proto
    record['sport'] = record['dport'] = record['tcpFlags'] = 0
    if fragment:
        return
    if TCP in layer:
        record['sport'], record['dport'], record['tcpFlags'] = layer[TCP].sport, layer[TCP].dport, int(layer[TCP].flags)
    elif UDP in layer:
        record['sport'], record['dport'] = layer[UDP].sport, layer[UDP].dport
    elif ICMP in layer:
        record['dport'] = layer[ICMP].type * 256 + layer[ICMP].code
    elif proto == 58 and len(bytes(layer.payload)) >= 2:
        icmp6 = bytes(layer.payload)
        record['dport'] = icmp6[0] * 256 + icmp6[1]


def raw_header(r):
    protocol, frame_length, stripped, header_length = r.u32(), r.u32(), r.u32(), r.u32()
    header = bytes(r.take(header_length))
    if protocol == 1:
        packet = Ether(header)
    elif protocol == 11:
        packet = IP(header)
    elif protocol == 12:
        packet = IPv6(header)
    else:
        return None
    for cls in (IP, IPv6):
        if cls in packet:
            ip = packet[cls]
            # The IP header's offset in the sampled header: what the layers before it took.
            offset = len(header) - len(bytes(ip))
            for inner in (IP, IPv6):
                if inner in ip.payload:
                    raise ValueError('a tunnel in a capture: extend this reader before comparing')
            record = {'family': 4 if cls is IP else 6, 'src': ip.src, 'dst': ip.dst}
            fragment = cls is IP and ip.frag != 0
            transport(record, ip, ip.proto if cls is IP else ip.nh, fragment)
            record['ipBytes'] = frame_length - stripped - offset
            record['frameBytes'] = frame_length
            return record
    return None


def sampled_ip(r, family):
    length, proto = r.u32(), r.u32()
    width = 4 if family == 4 else 16
    src, dst = bytes(r.take(width)), bytes(r.take(width))
    sport, dport, flags = r.u32(), r.u32(), r.u32()
    import ipaddress
    return {
        'family': family, 'src': str(ipaddress.ip_address(src)), 'dst': str(ipaddress.ip_address(dst)),
        'proto': proto & 0xff, 'sport': sport & 0xffff, 'dport': dport & 0xffff, 'tcpFlags': flags & 0xff,
        'ipBytes': length, 'frameBytes': length,
    }


def flow_sample(r, expanded):
    r.u32()  # sequence
    if expanded:
        r.u32(); r.u32()  # source id type, index
    else:
        r.u32()  # source id
    rate = r.u32()
    r.u32(); r.u32()  # pool, drops
    if expanded:
        r.u32(); r.u32(); r.u32(); r.u32()  # input and output interface format/value
    else:
        r.u32(); r.u32()
    raw = sampled = None
    for _ in range(r.u32()):
        fmt, length = r.u32(), r.u32()
        body = r.sub(length)
        if fmt == 1 and raw is None:
            raw = raw_header(body) or False
        elif fmt in (3, 4) and sampled is None:
            sampled = sampled_ip(body, 4 if fmt == 3 else 6)
    record = raw or sampled
    if record is None or record is False:
        return None
    rate = max(rate, 1)
    record['samplingRate'] = rate
    record['packets'] = rate
    record['bytes'] = record.pop('ipBytes') * rate
    record['frameBytes'] *= rate
    return record


def datagram(payload):
    r = Reader(payload)
    if r.u32() != 5:
        raise ValueError('not sFlow v5')
    address_type = r.u32()
    r.take(4 if address_type == 1 else 16)
    r.u32(); r.u32(); r.u32()  # sub-agent, sequence, uptime
    records = []
    for _ in range(r.u32()):
        fmt, length = r.u32(), r.u32()
        body = r.sub(length)
        if fmt in (1, 3):
            record = flow_sample(body, fmt == 3)
            if record:
                records.append(record)
    return records


def main():
    for path in sys.argv[1:]:
        for packet in rdpcap(path):
            if UDP in packet:
                for record in datagram(bytes(packet[UDP].payload)):
                    print(json.dumps(record))


if __name__ == '__main__':
    main()

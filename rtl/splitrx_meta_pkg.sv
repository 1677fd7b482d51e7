// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Per-frame metadata the parser attaches to each frame (rx_parser -> rx_dma). One definition
// for both ends; the field meanings are documented in rtl/rx_parser.sv.
package splitrx_meta_pkg;

    // Header record: valid with every beat of the frame, the first included.
    typedef struct packed {
        logic        malformed;     // [74] a header is inconsistent with the frame
        logic        hdr_overflow;  // [73] a header ends beyond MAX_HDR_BYTES / too many ext hdrs
        logic        fragment;      // [72] IP fragment
        logic        vlan;          // [71] at least one VLAN tag
        logic        l4_ok;         // [70] l4_end valid
        logic        l3_ok;         // [69] l3_end valid
        logic        l2_ok;         // [68] l2_end valid
        logic [1:0]  l4_type;       // [67:66] splitrx_records_pkg::L4_TYPE_*
        logic [1:0]  l3_type;       // [65:64] splitrx_records_pkg::L3_TYPE_*
        logic [15:0] vlan_tci;      // [63:48] outermost VLAN TCI
        logic [15:0] l4_end;        // [47:32] payload start
        logic [15:0] l3_end;        // [31:16] L4 start
        logic [15:0] l2_end;        // [15:0]  L3 start
    } meta_hdr_t;

    // Checksum record: valid with the frame's last beat.
    typedef struct packed {
        logic [1:0]  l4_csum;   // [19:18] splitrx_records_pkg::CSUM_STATUS_*
        logic [1:0]  ip4_csum;  // [17:16] splitrx_records_pkg::CSUM_STATUS_*
        logic [15:0] csum;      // [15:0]  CHECKSUM_COMPLETE sum of bytes 14..end
    } meta_csum_t;

    // RSS tuple (rss_toeplitz's request): valid with every beat of the frame, like the header
    // record. All zero unless is_ip; addresses in network order, IPv4 in [31:0].
    typedef struct packed {
        logic         is_ip;     // [292] an IPv4 or IPv6 header was parsed (l3_type IPV4/IPV6)
        logic         is_ipv6;   // [291] ... IPv6
        logic         is_tcp;    // [290] a TCP header was found (l4_ok, l4_type TCP)
        logic         is_udp;    // [289] a UDP header was found (l4_ok, l4_type UDP)
        logic         is_frag;   // [288] IP fragment (the header record's fragment bit)
        logic [127:0] src_addr;  // [287:160] IP source address
        logic [127:0] dst_addr;  // [159:32]  IP destination address
        logic [15:0]  src_port;  // [31:16]   TCP/UDP source port (0 unless is_tcp or is_udp)
        logic [15:0]  dst_port;  // [15:0]    TCP/UDP destination port
    } meta_tuple_t;

    localparam int META_HDR_W   = $bits(meta_hdr_t);
    localparam int META_CSUM_W  = $bits(meta_csum_t);
    localparam int META_TUPLE_W = $bits(meta_tuple_t);

endpackage

`resetall

// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// RX header parser (250 MHz user clock), between the packet FIFO and the DMA engine. Frames
// pass through unchanged, one 64-bit beat per cycle; each leaves with three metadata records:
//
//   m_meta_hdr   header record: L2/L3/L4 end offsets, types, VLAN, flags. Valid with every
//                beat of the frame (m_axis_tvalid), the first included, constant for the frame.
//   m_meta_tuple RSS tuple: IP addresses, TCP/UDP ports and the flags rss_toeplitz selects the
//                hash input by. Valid and constant like m_meta_hdr.
//   m_meta_csum  checksum record: IPv4 header and TCP/UDP checksum verdicts and the
//                CHECKSUM_COMPLETE sum. Valid with the frame's tlast beat (m_axis_tvalid &&
//                m_axis_tlast).
//
// All are sidebands of m_axis: no handshake of their own; they stay put while m_axis is
// stalled. m_axis_tuser is the frame length in bytes (s_axis_tuser of the frame's first beat)
// on every beat.
//
// How. Input beats go into a frame buffer (DEPTH_BEATS beats); the first MAX_HDR_BYTES bytes
// of the frame being received are also written into a header buffer, which a parse FSM reads
// one header per clock (a VLAN tag, an IPv4 header, an IPv6 header, one extension header, TCP
// or UDP), as soon as the bytes it needs have arrived. When the parse ends its header record
// goes into a record FIFO, and only then may the frame's first beat leave the frame buffer:
// the frame is held while its headers are parsed (at most MAX_HDR_BYTES bytes plus a few
// clocks), never stored whole. Checksums need every byte, so they are summed on the way out
// (where the record already says which byte ranges are which): the checksum record is final
// when the tlast beat reaches m_axis.
//
// The RSS tuple's addresses lie in frame bytes 22..61 whatever the VLAN stack (IPv4: L3 start
// + 12..19, IPv6: + 8..39, L3 starting at 14, 18 or 22), so frame bytes 16..63 are also copied
// into a capture register as they arrive, and the addresses are picked from it when the record
// is pushed; the ports are read by the TCP and UDP parse steps.
//
// Timing, in clocks of clk (deterministic):
// - The parse of a frame starts with its first beat and takes one clock per header (a VLAN
//   tag, the IPv4 or IPv6 header, each extension header, TCP or UDP), each taken as soon as
//   the bytes it reads are in; the record is pushed in the clock of the last step (for an IP
//   frame, not before the IP addresses are in), and the next frame's first beat is accepted in
//   that same clock. So s_axis stalls only when a frame's
//   parse has not ended by the clock after its last beat (or the frame buffer or the record
//   FIFO is full): never seen for well-formed frames of 60 B or more in the tests; frames of
//   a few beats (runts, dropped upstream) may cost a clock or two.
// - A frame's first beat is on m_axis 4 clocks after the clock its parse ended (record FIFO,
//   RAM read, checksum stage, output register); 10 clocks after it went in for a 60-byte
//   IPv4/TCP frame. The output's lag behind the input grows, one bubble at a time, to the
//   longest parse seen, and then stays: back-to-back 60-byte frames (64 B on the wire) take
//   8 clocks each, one beat per clock (tests/sim/rx_parser_tb.py asserts it).
// - Back-pressure: m_axis_tready stalls the output pipeline as a whole; the frame buffer fills
//   and s_axis_tready falls. Nothing is lost or reordered.
//
// The three records' fields, bit positions and meanings are defined once, in
// model/parse_meta.py; `make regs` generates rtl/splitrx_meta_pkg.sv (meta_hdr_t,
// meta_tuple_t, meta_csum_t) and docs/parser-meta.md, the table to read. In short: the header
// record holds the L2/L3/L4 end offsets (bytes from the frame's first byte, each with an _ok
// bit), L3/L4 types, the outer VLAN TCI, fragment, hdr_overflow and malformed; the tuple holds
// ports and addresses (network order) with the flags rss_toeplitz selects its input by; the
// checksum record holds the CHECKSUM_COMPLETE sum over bytes 14.. (as Linux wants in
// skb->csum) and the IPv4 header and TCP/UDP verdicts.
//
// TCP/UDP checksum rules (l4_csum): the sum covers the pseudo-header and exactly the IP
// payload (from the L4 start to the IPv4 total length / IPv6 payload length end; padding after
// it excluded). GOOD/BAD when l4_ok; NOT_CHECKED for fragments, an IPv6 routing header with
// segments left > 0 (the pseudo-header would need the final destination), UDP with checksum 0
// over IPv4, and whenever l4_ok is 0. UDP with checksum 0 over IPv6 is BAD.
//
// Headers parsed (offsets in bytes; the parser reads the fields marked *):
//
//   Ethernet II, 14 B           802.1Q / 802.1ad tag, 4 B (at most two: outer TPID 0x88A8
//   +--------+--------+------+  or 0x8100, inner 0x8100)
//   | 0  dst | 6  src | 12 * |  +-------------+-------+----------------+
//   |  6 B   |  6 B   | type |  | TPID (type) | 2 TCI*| 4 next type*   |
//   +--------+--------+------+  +-------------+-------+----------------+
//   type 0x0800: IPv4, 0x86DD: IPv6, other: l3_type NONE (l2_end still reported).
//
//   IPv4, 20..60 B                           IPv6, 40 B
//   +------------+-----+---------------+     +-------+-------+---------+----------+-------+
//   | 0 ver*/IHL*| tos | 2 total len*  |     | 0 ver*| ...   | 4 plen* | 6 next h*| hlim  |
//   +------------+-----+---------------+     +-------+-------+---------+----------+-------+
//   | 4 id             | 6 flags*/frag*|     | 8 source address (16 B)                   |
//   +------------------+-----+---------+     +-------------------------------------------+
//   | 8 ttl      | 9 p*| 10 hdr csum   |     | 24 destination address (16 B)             |
//   +------------+-----+---------------+     +-------------------------------------------+
//   | 12 source address | 16 dest addr |     extension header (0 hop-by-hop, 43 routing,
//   +-------------------+--------------+     60 destination options: (len+1)*8 B;
//   | 20 options (IHL*4 - 20 B)        |     44 fragment: 8 B)
//   +----------------------------------+     +-----------+-------+--------------+--------+
//                                            | 0 next h* | 1 len*| 2 frag off*  | 3 segl*|
//   TCP, 20..60 B            UDP, 8 B        +-----------+-------+--------------+--------+
//   +--------+---------+     +--------+--------+   (2..3: fragment offset and M for 44;
//   | 0 ports (4 B)    |     | 0 sport| 2 dport|    3: segments left for 43)
//   | 4 seq  | 8 ack   |     | 4 len  | 6 csum*|
//   | 12 doff*| ...    |     +--------+--------+
//   +--------+---------+
//
// Each header, in order: its minimum size (IPv4 20 B, IPv6 40 B, extension header 8 B, TCP
// 20 B, UDP 8 B) must lie inside the frame (extension, TCP and UDP headers: inside the IP
// payload), else malformed; inside MAX_HDR_BYTES, else header overflow (IPv6: a further
// extension header after MAX_EXT_HDRS is overflow first); then its fields are checked
// (malformed) and its end must lie inside MAX_HDR_BYTES (else overflow).
// Malformed, L2 (nothing reported, l3_type NONE): the frame ends inside the Ethernet header or
// a VLAN tag (tag + next type). Malformed, L3 (l3_type MALFORMED, only l2_end reported): an
// IPv4 EtherType with version != 4, IHL < 5, IHL*4 beyond the frame, total length < IHL*4 or
// beyond the frame (the frame shorter than 20 bytes of header included); an IPv6 EtherType
// with version != 6, the frame shorter than the 40-byte header, 40 + payload length beyond the
// frame, an extension header not inside the payload. Malformed, L4 (l3 reported, l4_type TCP or
// UDP, l4_ok 0): the TCP/UDP header not inside the IP payload, TCP data offset < 5. An IP
// length shorter than the frame is padding, not an error; the UDP length field is not used.
// A non-first fragment (offset != 0) has l4_type NONE; a first fragment's L4 header is
// parsed. IPv6 next header 59 (no next header): l4_type NONE; any other non-extension next
// header / IPv4 protocol but TCP (6) and UDP (17): l4_type OTHER, l4 not reported. A third
// VLAN tag, or an inner 0x88A8, ends L2 there with l3_type NONE. Hop-by-hop options are
// accepted anywhere in the extension header chain.
//
// Input contract: tkeep all ones but on the last beat, contiguous from lane 0 there;
// s_axis_tuser = the frame's length in bytes on every beat (read on the first beat).
module rx_parser #(
    // Header bytes looked at, from the frame's first byte: a header ending beyond them is
    // header overflow. A power of two, 64..1024.
    parameter int unsigned MAX_HDR_BYTES     = 256,
    // IPv6 extension headers followed before header overflow, 0..15.
    parameter int unsigned MAX_EXT_HDRS      = 4,
    // Frame buffer depth in beats (8 bytes each): holds the frame whose headers are being
    // parsed and the frames ahead of it. A power of two, at least 32 and 2 * MAX_HDR_BYTES / 8.
    parameter int unsigned DEPTH_BEATS       = MAX_HDR_BYTES / 4 > 32 ? MAX_HDR_BYTES / 4 : 32,
    // Header records of parsed frames that have not started on m_axis, in frames; a power of
    // two, at least 2 (when full, the next frame waits at s_axis).
    parameter int unsigned META_DEPTH_FRAMES = 16,
    // Width of m_meta_hdr in bits (splitrx_meta_pkg::meta_hdr_t, the layout above).
    localparam int unsigned HDR_W            = splitrx_meta_pkg::META_HDR_W,
    // Width of m_meta_csum in bits (splitrx_meta_pkg::meta_csum_t, the layout above).
    localparam int unsigned CSUM_W           = splitrx_meta_pkg::META_CSUM_W,
    // Width of m_meta_tuple in bits (splitrx_meta_pkg::meta_tuple_t, the layout above).
    localparam int unsigned TUPLE_W          = splitrx_meta_pkg::META_TUPLE_W
) (
    input  logic              clk,
    input  logic              rst,

    // ---- frames in, from the packet FIFO ----
    input  logic [63:0]       s_axis_tdata,
    input  logic [7:0]        s_axis_tkeep,
    input  logic              s_axis_tvalid,
    output logic              s_axis_tready,
    input  logic              s_axis_tlast,
    input  logic [15:0]       s_axis_tuser,   // frame length in bytes, on every beat

    // ---- the same frames out, to the DMA ----
    output logic [63:0]       m_axis_tdata,
    output logic [7:0]        m_axis_tkeep,
    output logic              m_axis_tvalid,
    input  logic              m_axis_tready,
    output logic              m_axis_tlast,
    output logic [15:0]       m_axis_tuser,   // frame length in bytes, on every beat

    // ---- per-frame records, sidebands of m_axis (layouts above) ----
    output logic [HDR_W-1:0]   m_meta_hdr,    // with every beat of the frame
    output logic [TUPLE_W-1:0] m_meta_tuple,  // with every beat of the frame
    output logic [CSUM_W-1:0]  m_meta_csum    // with the frame's tlast beat
);

    import splitrx_records_pkg::*;

    localparam int unsigned HDR_WORDS = MAX_HDR_BYTES / 8;      // header buffer words
    localparam int unsigned HB_AW     = $clog2(HDR_WORDS);      // header buffer address bits
    localparam int unsigned ADDR_W    = $clog2(DEPTH_BEATS);    // frame buffer address bits
    localparam int unsigned PTR_W     = ADDR_W + 1;             // address + wrap bit
    localparam int unsigned MF_AW     = $clog2(META_DEPTH_FRAMES);
    localparam int unsigned MF_PTR_W  = MF_AW + 1;
    localparam int unsigned POS_W     = 18;   // byte positions: 16-bit lengths plus headers
    localparam int unsigned EXT_W     = 4;    // extension header count
    localparam int unsigned TCAP_FIRST = 2;   // first frame word (8 bytes) in the capture register
    localparam int unsigned TCAP_WORDS = 6;   // frame words 2..7: bytes 16..63

    localparam logic [15:0] ETH_P_IPV4    = 16'h0800;
    localparam logic [15:0] ETH_P_IPV6    = 16'h86DD;
    localparam logic [15:0] ETH_P_8021Q   = 16'h8100;
    localparam logic [15:0] ETH_P_8021AD  = 16'h88A8;
    localparam logic [7:0]  IPPROTO_HOPOPTS  = 8'd0;
    localparam logic [7:0]  IPPROTO_TCP      = 8'd6;
    localparam logic [7:0]  IPPROTO_UDP      = 8'd17;
    localparam logic [7:0]  IPPROTO_ROUTING  = 8'd43;
    localparam logic [7:0]  IPPROTO_FRAGMENT = 8'd44;
    localparam logic [7:0]  IPPROTO_NONE     = 8'd59;
    localparam logic [7:0]  IPPROTO_DSTOPTS  = 8'd60;

    localparam logic [1:0] L3_NONE      = 2'(L3_TYPE_NONE);
    localparam logic [1:0] L3_IPV4      = 2'(L3_TYPE_IPV4);
    localparam logic [1:0] L3_IPV6      = 2'(L3_TYPE_IPV6);
    localparam logic [1:0] L3_MALFORMED = 2'(L3_TYPE_MALFORMED);
    localparam logic [1:0] L4_NONE      = 2'(L4_TYPE_NONE);
    localparam logic [1:0] L4_TCP       = 2'(L4_TYPE_TCP);
    localparam logic [1:0] L4_UDP       = 2'(L4_TYPE_UDP);
    localparam logic [1:0] L4_OTHER     = 2'(L4_TYPE_OTHER);
    localparam logic [1:0] CS_NOT_CHECKED = 2'(CSUM_STATUS_NOT_CHECKED);
    localparam logic [1:0] CS_GOOD        = 2'(CSUM_STATUS_GOOD);
    localparam logic [1:0] CS_BAD         = 2'(CSUM_STATUS_BAD);

    localparam logic [POS_W-1:0] MAX_POS   = POS_W'(MAX_HDR_BYTES);
    localparam logic [EXT_W-1:0] MAX_EXT   = EXT_W'(MAX_EXT_HDRS);
    localparam logic [PTR_W-1:0] DEPTH_PTR = PTR_W'(DEPTH_BEATS);
    localparam logic [MF_PTR_W-1:0] MF_DEPTH = MF_PTR_W'(META_DEPTH_FRAMES);

    if (MAX_HDR_BYTES < 64 || MAX_HDR_BYTES > 1024 || (MAX_HDR_BYTES & (MAX_HDR_BYTES - 1)) != 0)
    begin : g_check_hdr
        $fatal(0, "rx_parser: MAX_HDR_BYTES must be a power of two, 64..1024 (instance %m)");
    end
    if (MAX_EXT_HDRS > 15) begin : g_check_ext
        $fatal(0, "rx_parser: MAX_EXT_HDRS must be 0..15 (instance %m)");
    end
    if (DEPTH_BEATS < 32 || DEPTH_BEATS < 2 * HDR_WORDS || (DEPTH_BEATS & (DEPTH_BEATS - 1)) != 0)
    begin : g_check_depth
        $fatal(0, "rx_parser: DEPTH_BEATS must be a power of two >= 32 and >= %0d (instance %m)",
               2 * HDR_WORDS);
    end
    if (META_DEPTH_FRAMES < 2 || (META_DEPTH_FRAMES & (META_DEPTH_FRAMES - 1)) != 0)
    begin : g_check_meta
        $fatal(0, "rx_parser: META_DEPTH_FRAMES must be a power of two, at least 2 (instance %m)");
    end

    // ---------------------------------------------------------------------------------------
    // Records
    // ---------------------------------------------------------------------------------------
    // m_meta_hdr and m_meta_csum: one definition, shared with rx_dma.
    typedef splitrx_meta_pkg::meta_hdr_t   hdr_t;
    typedef splitrx_meta_pkg::meta_csum_t  csum_t;
    typedef splitrx_meta_pkg::meta_tuple_t tuple_t;

    // What the checksum verdict and the output register need of a frame's record.
    typedef struct packed {
        hdr_t        hdr;
        tuple_t      tup;
        logic [15:0] len;           // frame length (s_axis_tuser)
        logic        ip4_chk;       // check the IPv4 header checksum
        logic        l4_chk;        // check the TCP/UDP checksum (with l4_const)
        logic        l4_bad;        // ... and report BAD whatever the sum (UDP checksum 0, IPv6)
        logic [16:0] l4_const;      // pseudo-header protocol + L4 length
    } fin_t;

    // A parsed frame's record FIFO entry: fin_t plus the byte ranges the checksum stage sums,
    // each [lo, hi) in bytes from the frame's first byte.
    typedef struct packed {
        fin_t        fin;
        logic [15:0] ip4_lo;        // IPv4 header
        logic [15:0] ip4_hi;
        logic [15:0] l4_lo;         // TCP/UDP header and payload
        logic [15:0] l4_hi;
        logic [15:0] ps_lo;         // pseudo-header addresses inside the IP header
        logic [15:0] ps_hi;
    } meta_t;

    if ($bits(hdr_t) != 75 || $bits(csum_t) != 20 || $bits(tuple_t) != 293) begin : g_check_layout
        $fatal(0, "rx_parser: splitrx_meta_pkg differs from the layout documented here (%m)");
    end

    // 16-bit one's-complement fold of a 32-bit sum of 16-bit words (end-around carry).
    function automatic logic [15:0] fold(input logic [31:0] s);
        logic [16:0] t;
        t = {1'b0, s[15:0]} + {1'b0, s[31:16]};
        return t[15:0] + {15'd0, t[16]};
    endfunction

    // =======================================================================================
    // Input side: frame buffer, header buffer
    // =======================================================================================
    logic [71:0]       mem      [DEPTH_BEATS];   // {tkeep, tdata} per beat (unreset)
    logic              last_mem [DEPTH_BEATS];   // tlast per beat
    logic [63:0]       hbuf     [HDR_WORDS];     // first MAX_HDR_BYTES bytes of the frame
    logic [63:0]       tcap     [TCAP_WORDS];    // frame bytes 16..63 (the IP addresses)

    logic              in_ready_q;               // out of reset
    logic              in_mid_q, in_mid_d;       // inside a frame (its first beat taken)
    logic [PTR_W-1:0]  wr_ptr_q, wr_ptr_d;       // frame buffer write pointer (beats)
    logic [PTR_W-1:0]  rd_ptr_q, rd_ptr_d;       // frame buffer read pointer (beats)
    logic [HB_AW:0]    hb_words_q, hb_words_d;   // header buffer words of the frame written
    logic              rcv_done_q, rcv_done_d;   // the frame's tlast beat has been taken
    logic [15:0]       flen_q;                   // frame length (datapath)

    logic              beat;                     // input handshake
    logic              start;                    // ... of a frame's first beat
    logic              hb_we;
    logic [HB_AW-1:0]  hb_waddr;
    logic              data_full;
    logic              fsm_free;                 // parse FSM can take a new frame this cycle
    logic              mf_full;

    always_comb begin
        in_mid_d    = in_mid_q;
        wr_ptr_d    = wr_ptr_q;
        hb_words_d  = hb_words_q;
        rcv_done_d  = rcv_done_q;
        hb_we       = 1'b0;
        hb_waddr    = hb_words_q[HB_AW-1:0];

        data_full     = (wr_ptr_q - rd_ptr_q) == DEPTH_PTR;
        s_axis_tready = in_ready_q && !data_full && (in_mid_q || fsm_free);
        beat          = s_axis_tvalid && s_axis_tready;
        start         = beat && !in_mid_q;

        if (beat) begin
            wr_ptr_d   = wr_ptr_q + 1'b1;
            in_mid_d   = !s_axis_tlast;
            rcv_done_d = s_axis_tlast;
            if (start) begin
                hb_we      = 1'b1;
                hb_waddr   = '0;
                hb_words_d = (HB_AW + 1)'(1);
            end else if (hb_words_q != (HB_AW + 1)'(HDR_WORDS)) begin
                hb_we      = 1'b1;
                hb_words_d = hb_words_q + 1'b1;
            end
        end
    end

    always_ff @(posedge clk) begin
        if (beat) begin
            mem[wr_ptr_q[ADDR_W-1:0]]      <= {s_axis_tkeep, s_axis_tdata};
            last_mem[wr_ptr_q[ADDR_W-1:0]] <= s_axis_tlast;
        end
        if (hb_we) begin
            hbuf[hb_waddr] <= s_axis_tdata;
        end
        if (hb_we && 32'(hb_waddr) >= TCAP_FIRST && 32'(hb_waddr) < TCAP_FIRST + TCAP_WORDS) begin
            tcap[3'(32'(hb_waddr) - TCAP_FIRST)] <= s_axis_tdata;
        end
        if (start) begin
            flen_q <= s_axis_tuser;
        end
    end

    // =======================================================================================
    // Parse FSM: one header per clock, reading the header buffer at pos_q
    // =======================================================================================
    typedef enum logic [2:0] {
        S_IDLE,   // no frame, or its parse ended and its record is in the FIFO
        S_L2,     // pos: an EtherType/TPID field
        S_IPV4,   // pos: IPv4 header
        S_IPV6,   // pos: IPv6 header
        S_EXT,    // pos: IPv6 extension header of type nh
        S_TCP,    // pos: TCP header (ports at +0, data offset at +12)
        S_UDP,    // pos: UDP header
        S_DONE    // record complete, waiting for room in the record FIFO
    } state_t;

    // Parse results and walk state (datapath: cleared when a frame starts).
    typedef struct packed {
        hdr_t             hdr;
        logic [1:0]       ntag;       // VLAN tags seen
        logic [EXT_W-1:0] next;       // IPv6 extension headers seen
        logic [7:0]       nh;         // next header (S_EXT)
        logic [POS_W-1:0] ip_end;     // end of the IP payload
        logic [15:0]      ip4_hi;     // end of the IPv4 header (whether or not reported)
        logic [15:0]      ps_lo;      // pseudo-header address range
        logic [15:0]      ps_hi;
        logic             segleft;    // IPv6 routing header with segments left > 0
        logic             udp0;       // UDP checksum field is 0
        logic [POS_W-1:0] tup_end;    // end of the IP addresses (0: not IP)
        logic [15:0]      sport;      // TCP/UDP ports (0 until the L4 header is found)
        logic [15:0]      dport;
    } parse_t;

    state_t           state_q, state_d, step_state;
    logic [POS_W-1:0] pos_q, pos_d, step_pos;
    parse_t           pr_q, pr_d, step_pr;

    logic [POS_W-1:0] flen;          // frame length
    logic [POS_W-1:0] rcv_bytes;     // header buffer bytes written (whole words)
    logic [HB_AW-1:0] widx;
    logic [191:0]     win3;          // three header buffer words from pos_q's word
    logic [111:0]     win;           // 14 bytes from pos_q
    logic [7:0]       b [14];        // b[k] = frame byte pos_q + k
    logic [15:0]      et, et_next;
    logic [POS_W-1:0] hlen;
    logic [12:0]      foff;
    logic             l2_disp;       // the L2 header ends at l2_at, next type l2_type
    logic [POS_W-1:0] l2_at;
    logic [15:0]      l2_type;
    logic             l3_disp;       // the L3 header chain ends at l3_at, next protocol l3_nh
    logic             l3_nol4;       // ... and no L4 header follows (non-first fragment)
    logic [POS_W-1:0] l3_at;
    logic [7:0]       l3_nh;
    logic             fsm_end;       // the parse has ended (record in step_pr)
    logic             mf_push;
    meta_t            mf_in;

    // True when frame bytes [.., e) are in the header buffer (or the frame has ended).
    function automatic logic have(input logic [POS_W-1:0] e, input logic [POS_W-1:0] got,
                                  input logic done);
        return e <= got || done;
    endfunction

    function automatic logic is_tpid(input logic [15:0] t, input logic [1:0] ntag);
        return (ntag == 2'd0 && (t == ETH_P_8021Q || t == ETH_P_8021AD)) ||
               (ntag == 2'd1 && t == ETH_P_8021Q);
    endfunction

    function automatic logic is_ext(input logic [7:0] nh);
        return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
               nh == IPPROTO_DSTOPTS;
    endfunction

    // One parse step: what the current state reads at pos_q, without the frame start below.
    always_comb begin
        step_state = state_q;
        step_pos   = pos_q;
        step_pr    = pr_q;
        l2_disp    = 1'b0;
        l2_at      = pos_q + 2;
        l2_type    = '0;
        l3_disp    = 1'b0;
        l3_nol4    = 1'b0;
        l3_at      = pos_q;
        l3_nh      = '0;

        flen      = POS_W'(flen_q);
        rcv_bytes = {(POS_W - HB_AW - 4)'(0), hb_words_q, 3'b000};
        widx      = pos_q[3 +: HB_AW];
        win3      = {hbuf[widx + HB_AW'(2)], hbuf[widx + 1'b1], hbuf[widx]};
        win       = win3[{2'b00, pos_q[2:1], 4'b0000} +: 112];  // positions are even
        for (int k = 0; k < 14; k++) begin
            b[k] = win[8 * k +: 8];
        end
        et      = {b[0], b[1]};
        et_next = {b[4], b[5]};
        hlen    = '0;
        foff    = '0;

        unique case (state_q)
            S_IDLE, S_DONE: ;

            // An EtherType at pos, or a tag whose TPID is at pos: TCI at +2, next type at +4.
            S_L2: begin
                if (pos_q + 2 > flen) begin
                    step_pr.hdr.malformed = 1'b1;                 // frame ends in the header
                    step_state = S_DONE;
                end else if (have(pos_q + 2, rcv_bytes, rcv_done_q)) begin
                    if (!is_tpid(et, pr_q.ntag)) begin
                        l2_disp = 1'b1;
                        l2_type = et;
                    end else if (pos_q + 6 > flen) begin
                        step_pr.hdr.malformed = 1'b1;             // frame ends in the tag
                        step_state = S_DONE;
                    end else if (have(pos_q + 6, rcv_bytes, rcv_done_q)) begin
                        if (pr_q.ntag == 2'd0) begin
                            step_pr.hdr.vlan     = 1'b1;
                            step_pr.hdr.vlan_tci = {b[2], b[3]};
                        end
                        step_pr.ntag = pr_q.ntag + 1'b1;
                        step_pos     = pos_q + 4;
                        if (!is_tpid(et_next, pr_q.ntag + 1'b1)) begin
                            l2_disp = 1'b1;
                            l2_at   = pos_q + 6;
                            l2_type = et_next;
                        end
                    end
                end
            end

            S_IPV4: begin
                hlen = POS_W'({b[0][3:0], 2'b00});
                foff = {b[6][4:0], b[7]};
                if (pos_q + 20 > flen) begin
                    step_pr.hdr.l3_type   = L3_MALFORMED;
                    step_pr.hdr.malformed = 1'b1;
                    step_state = S_DONE;
                end else if (have(pos_q + 10, rcv_bytes, rcv_done_q)) begin
                    if (b[0][7:4] != 4'd4 || b[0][3:0] < 4'd5 || pos_q + hlen > flen ||
                        POS_W'({b[2], b[3]}) < hlen || pos_q + POS_W'({b[2], b[3]}) > flen) begin
                        step_pr.hdr.l3_type   = L3_MALFORMED;
                        step_pr.hdr.malformed = 1'b1;
                        step_state = S_DONE;
                    end else begin
                        step_pr.hdr.l3_type  = L3_IPV4;
                        step_pr.hdr.fragment = b[6][5] || foff != '0;
                        step_pr.ip_end       = pos_q + POS_W'({b[2], b[3]});
                        step_pr.ip4_hi       = 16'(pos_q + hlen);
                        step_pr.ps_lo        = 16'(pos_q + 12);
                        step_pr.ps_hi        = 16'(pos_q + 20);
                        step_pr.tup_end      = pos_q + 20;
                        l3_disp = 1'b1;
                        l3_nol4 = foff != '0;                     // a non-first fragment
                        l3_at   = pos_q + hlen;
                        l3_nh   = b[9];
                    end
                end
            end

            S_IPV6: begin
                if (pos_q + 40 > flen) begin
                    step_pr.hdr.l3_type   = L3_MALFORMED;
                    step_pr.hdr.malformed = 1'b1;
                    step_state = S_DONE;
                end else if (have(pos_q + 8, rcv_bytes, rcv_done_q)) begin
                    if (b[0][7:4] != 4'd6 || pos_q + 40 + POS_W'({b[4], b[5]}) > flen) begin
                        step_pr.hdr.l3_type   = L3_MALFORMED;
                        step_pr.hdr.malformed = 1'b1;
                        step_state = S_DONE;
                    end else begin
                        step_pr.hdr.l3_type = L3_IPV6;
                        step_pr.ip_end      = pos_q + 40 + POS_W'({b[4], b[5]});
                        step_pr.ps_lo       = 16'(pos_q + 8);
                        step_pr.ps_hi       = 16'(pos_q + 40);
                        step_pr.tup_end     = pos_q + 40;
                        step_pr.nh          = b[6];
                        step_pos            = pos_q + 40;
                        if (is_ext(b[6])) begin
                            step_state = S_EXT;
                        end else begin
                            l3_disp = 1'b1;
                            l3_at   = pos_q + 40;
                            l3_nh   = b[6];
                        end
                    end
                end
            end

            S_EXT: begin
                hlen = pr_q.nh == IPPROTO_FRAGMENT ? POS_W'(8) : POS_W'({b[1], 3'b000}) + 8;
                foff = {b[2], b[3][7:3]};
                if (pr_q.next == MAX_EXT) begin
                    step_pr.hdr.hdr_overflow = 1'b1;              // too many
                    step_state = S_DONE;
                end else if (pos_q + 8 > pr_q.ip_end) begin
                    step_pr.hdr.l3_type   = L3_MALFORMED;
                    step_pr.hdr.malformed = 1'b1;
                    step_state = S_DONE;
                end else if (pos_q + 8 > MAX_POS) begin
                    step_pr.hdr.hdr_overflow = 1'b1;              // 8 B do not fit
                    step_state = S_DONE;
                end else if (have(pos_q + 4, rcv_bytes, rcv_done_q)) begin
                    if (pos_q + hlen > pr_q.ip_end) begin
                        step_pr.hdr.l3_type   = L3_MALFORMED;
                        step_pr.hdr.malformed = 1'b1;
                        step_state = S_DONE;
                    end else begin
                        step_pr.next = pr_q.next + 1'b1;
                        step_pr.nh   = b[0];
                        step_pos     = pos_q + hlen;
                        if (pr_q.nh == IPPROTO_ROUTING && b[3] != 8'd0) begin
                            step_pr.segleft = 1'b1;
                        end
                        if (pr_q.nh == IPPROTO_FRAGMENT && (foff != '0 || b[3][0])) begin
                            step_pr.hdr.fragment = 1'b1;
                        end
                        if (pr_q.nh == IPPROTO_FRAGMENT && foff != '0) begin
                            l3_disp = 1'b1;                       // non-first: no L4 header
                            l3_nol4 = 1'b1;
                            l3_at   = pos_q + hlen;
                        end else if (!is_ext(b[0])) begin
                            l3_disp = 1'b1;
                            l3_at   = pos_q + hlen;
                            l3_nh   = b[0];
                        end
                    end
                end
            end

            S_TCP: begin
                hlen = POS_W'({b[12][7:4], 2'b00});
                if (pos_q + 20 > pr_q.ip_end) begin              // 20 B not in the payload
                    step_pr.hdr.malformed = 1'b1;
                    step_state = S_DONE;
                end else if (pos_q + 20 > MAX_POS) begin          // 20 B do not fit
                    step_pr.hdr.hdr_overflow = 1'b1;
                    step_state = S_DONE;
                end else if (have(pos_q + 13, rcv_bytes, rcv_done_q)) begin
                    step_state = S_DONE;
                    if (b[12][7:4] < 4'd5 || pos_q + hlen > pr_q.ip_end) begin
                        step_pr.hdr.malformed = 1'b1;
                    end else if (pos_q + hlen > MAX_POS) begin
                        step_pr.hdr.hdr_overflow = 1'b1;
                    end else begin
                        step_pr.hdr.l4_ok  = 1'b1;
                        step_pr.hdr.l4_end = 16'(pos_q + hlen);
                        step_pr.sport      = {b[0], b[1]};
                        step_pr.dport      = {b[2], b[3]};
                    end
                end
            end

            S_UDP: begin
                if (pos_q + 8 > pr_q.ip_end) begin
                    step_pr.hdr.malformed = 1'b1;
                    step_state = S_DONE;
                end else if (pos_q + 8 > MAX_POS) begin
                    step_pr.hdr.hdr_overflow = 1'b1;
                    step_state = S_DONE;
                end else if (have(pos_q + 8, rcv_bytes, rcv_done_q)) begin
                    step_pr.udp0       = {b[6], b[7]} == 16'd0;
                    step_pr.hdr.l4_ok  = 1'b1;
                    step_pr.hdr.l4_end = 16'(pos_q + 8);
                    step_pr.sport      = {b[0], b[1]};
                    step_pr.dport      = {b[2], b[3]};
                    step_state = S_DONE;
                end
            end

            default: step_state = S_IDLE;
        endcase

        // End of the Ethernet header (tags included): on to L3.
        if (l2_disp) begin
            step_pr.hdr.l2_ok  = 1'b1;
            step_pr.hdr.l2_end = 16'(l2_at);
            step_pos           = l2_at;
            step_state = l2_type == ETH_P_IPV4 ? S_IPV4 :
                         l2_type == ETH_P_IPV6 ? S_IPV6 : S_DONE;
        end

        // End of the IP header chain: report it (when it fits) and on to TCP/UDP.
        if (l3_disp) begin
            step_state = S_DONE;
            if (l3_at > MAX_POS) begin
                step_pr.hdr.hdr_overflow = 1'b1;
            end else begin
                step_pr.hdr.l3_ok  = 1'b1;
                step_pr.hdr.l3_end = 16'(l3_at);
                if (!l3_nol4) begin
                    if (l3_nh == IPPROTO_TCP) begin
                        step_pr.hdr.l4_type = L4_TCP;
                        step_pos   = l3_at;
                        step_state = S_TCP;
                    end else if (l3_nh == IPPROTO_UDP) begin
                        step_pr.hdr.l4_type = L4_UDP;
                        step_pos   = l3_at;
                        step_state = S_UDP;
                    end else if (!(step_pr.hdr.l3_type == L3_IPV6 && l3_nh == IPPROTO_NONE)) begin
                        step_pr.hdr.l4_type = L4_OTHER;
                    end
                end
            end
        end
    end

    // The record is pushed in the clock the parse ends (or later, if the FIFO was full or the IP
    // addresses are not in yet); the FSM takes the next frame in that same clock.
    assign fsm_end  = step_state == S_DONE && have(step_pr.tup_end, rcv_bytes, rcv_done_q);
    assign mf_push  = fsm_end && !mf_full;
    assign fsm_free = state_q == S_IDLE || mf_push;

    always_comb begin
        state_d = step_state;
        pos_d   = step_pos;
        pr_d    = step_pr;
        if (mf_push) begin
            state_d = S_IDLE;
        end
        // A new frame (taken only when the FSM is free): start over.
        if (start) begin
            state_d          = S_L2;
            pos_d            = POS_W'(12);
            pr_d             = '0;
            pr_d.hdr.l3_type = L3_NONE;
            pr_d.hdr.l4_type = L4_NONE;
        end
    end

    // RSS tuple of the frame whose parse ends: addresses from the capture register (frame byte
    // 16 + k is cap[k]), at the L3 start the VLAN tags give, ports from the parse.
    logic [7:0] cap [8 * TCAP_WORDS];
    tuple_t     tup_in;
    always_comb begin
        logic [5:0] a4, a6;   // capture index of the IPv4 / IPv6 source address
        for (int k = 0; k < int'(8 * TCAP_WORDS); k++) begin
            cap[k] = tcap[k / 8][8 * (k % 8) +: 8];
        end
        a4 = 6'(step_pr.hdr.l2_end - 16'd4);    // L3 start + 12 - 16
        a6 = 6'(step_pr.hdr.l2_end - 16'd8);    // L3 start + 8 - 16
        tup_in = '0;
        if (step_pr.hdr.l3_type == L3_IPV4 || step_pr.hdr.l3_type == L3_IPV6) begin
            tup_in.is_ip   = 1'b1;
            tup_in.is_ipv6 = step_pr.hdr.l3_type == L3_IPV6;
            tup_in.is_tcp  = step_pr.hdr.l4_ok && step_pr.hdr.l4_type == L4_TCP;
            tup_in.is_udp  = step_pr.hdr.l4_ok && step_pr.hdr.l4_type == L4_UDP;
            tup_in.is_frag = step_pr.hdr.fragment;
            tup_in.src_port = step_pr.sport;
            tup_in.dst_port = step_pr.dport;
            if (step_pr.hdr.l3_type == L3_IPV6) begin
                for (int j = 0; j < 16; j++) begin
                    tup_in.src_addr[127 - 8 * j -: 8] = cap[a6 + 6'(j)];
                    tup_in.dst_addr[127 - 8 * j -: 8] = cap[a6 + 6'(16 + j)];
                end
            end else begin
                for (int j = 0; j < 4; j++) begin
                    tup_in.src_addr[31 - 8 * j -: 8] = cap[a4 + 6'(j)];
                    tup_in.dst_addr[31 - 8 * j -: 8] = cap[a4 + 6'(4 + j)];
                end
            end
        end
    end

    // Record FIFO entry of the frame whose parse ends.
    always_comb begin
        mf_in              = '0;
        mf_in.fin.hdr      = step_pr.hdr;
        mf_in.fin.tup      = tup_in;
        mf_in.fin.len      = flen_q;
        mf_in.fin.ip4_chk  = step_pr.hdr.l3_type == L3_IPV4;
        mf_in.fin.l4_chk   = step_pr.hdr.l4_ok && !step_pr.hdr.fragment && !step_pr.segleft &&
                             !(step_pr.hdr.l4_type == L4_UDP && step_pr.udp0 &&
                               step_pr.hdr.l3_type == L3_IPV4);
        mf_in.fin.l4_bad   = step_pr.hdr.l4_type == L4_UDP && step_pr.udp0;
        mf_in.fin.l4_const = 17'(step_pr.hdr.l4_type == L4_TCP ? IPPROTO_TCP : IPPROTO_UDP) +
                             17'(step_pr.ip_end[15:0] - step_pr.hdr.l3_end);
        mf_in.ip4_lo       = step_pr.hdr.l2_end;
        mf_in.ip4_hi       = step_pr.ip4_hi;
        mf_in.l4_lo        = step_pr.hdr.l3_end;
        mf_in.l4_hi        = step_pr.ip_end[15:0];
        mf_in.ps_lo        = step_pr.ps_lo;
        mf_in.ps_hi        = step_pr.ps_hi;
    end

    always_ff @(posedge clk) begin
        pos_q <= pos_d;
        pr_q  <= pr_d;
    end

    // =======================================================================================
    // Record FIFO
    // =======================================================================================
    meta_t               mf_mem [META_DEPTH_FRAMES];
    logic [MF_PTR_W-1:0] mf_wr_q, mf_wr_d;
    logic [MF_PTR_W-1:0] mf_rd_q, mf_rd_d;
    logic                mf_empty;

    assign mf_full  = (mf_wr_q - mf_rd_q) == MF_DEPTH;
    assign mf_empty = mf_wr_q == mf_rd_q;

    always_ff @(posedge clk) begin
        if (mf_push) begin
            mf_mem[mf_wr_q[MF_AW-1:0]] <= mf_in;
        end
    end

    // =======================================================================================
    // Output side: RAM read (R) -> checksum words (P) -> output register (M), stalling as a
    // whole on m_axis_tready. A frame's first beat is read only once its record is in the FIFO.
    // =======================================================================================
    logic              rd_mid_q, rd_mid_d;     // the next beat to read is not a first beat
    logic [15:0]       rd_off_q, rd_off_d;     // byte offset of the next beat to read
    logic              r_valid_q, r_valid_d;
    logic              p_valid_q, p_valid_d;
    logic              m_valid_q, m_valid_d;

    // ---- datapath (unreset) ----
    logic [63:0]       r_data_q;
    logic [7:0]        r_keep_q;
    logic              r_last_q, r_first_q;
    logic [15:0]       r_off_q;                // byte offset of the beat in its frame
    meta_t             r_meta_q;               // record of the frame the beat in R belongs to
    logic [63:0]       p_data_q;
    logic [7:0]        p_keep_q;
    logic              p_last_q, p_first_q;
    fin_t              p_meta_q;
    logic [17:0]       p_cc_q, p_ip4_q, p_l4_q;  // the beat's words in each checksum range
    logic [63:0]       m_data_q;
    logic [7:0]        m_keep_q;
    logic              m_last_q;
    hdr_t              m_hdr_q;                // record of the frame the beat in M belongs to
    tuple_t            m_tup_q;
    logic [15:0]       m_len_q;
    csum_t             m_csum_q;
    logic [31:0]       acc_cc_q, acc_ip4_q, acc_l4_q;  // sums up to the beat in M

    logic              m_adv, p_adv, r_adv;
    logic              can_issue, issue;
    logic [15:0]       issue_off;
    logic [17:0]       sum_cc, sum_ip4, sum_l4;
    logic [31:0]       acc_cc_n, acc_ip4_n, acc_l4_n;
    csum_t             csum_n;

    always_comb begin
        rd_mid_d  = rd_mid_q;
        rd_off_d  = rd_off_q;
        rd_ptr_d  = rd_ptr_q;
        mf_rd_d   = mf_rd_q;
        r_valid_d = r_valid_q;
        p_valid_d = p_valid_q;
        m_valid_d = m_valid_q;

        m_adv     = !m_valid_q || m_axis_tready;
        p_adv     = !p_valid_q || m_adv;
        r_adv     = !r_valid_q || p_adv;
        can_issue = wr_ptr_q != rd_ptr_q && (rd_mid_q || !mf_empty);
        issue     = r_adv && can_issue;
        issue_off = rd_mid_q ? rd_off_q : 16'd0;

        if (issue) begin
            rd_ptr_d = rd_ptr_q + 1'b1;
            rd_mid_d = !last_mem[rd_ptr_q[ADDR_W-1:0]];
            rd_off_d = issue_off + 16'd8;
            if (!rd_mid_q) begin
                mf_rd_d = mf_rd_q + 1'b1;
            end
        end
        if (r_adv) r_valid_d = issue;
        if (p_adv) p_valid_d = r_valid_q;
        if (m_adv) m_valid_d = p_valid_q;
    end

    // Words of the beat in R inside each checksum range (byte k of the beat is frame byte
    // r_off + k; a 16-bit word is bytes 2i (high) and 2i + 1 (low)). Range bounds are even but
    // the L4 end, which may cut a word after its high byte.
    always_comb begin
        logic [16:0] o;
        logic [7:0]  hi, lo;
        logic        in_ps;
        sum_cc  = '0;
        sum_ip4 = '0;
        sum_l4  = '0;
        for (int i = 0; i < 4; i++) begin
            o     = 17'(r_off_q) + 17'(2 * i);
            hi    = r_data_q[16 * i +: 8];
            lo    = r_data_q[16 * i + 8 +: 8];
            in_ps = o >= 17'(r_meta_q.ps_lo) && o < 17'(r_meta_q.ps_hi);
            if (o >= 17'd14) begin
                sum_cc = sum_cc + 18'({r_keep_q[2 * i] ? hi : 8'd0,
                                       r_keep_q[2 * i + 1] ? lo : 8'd0});
            end
            if (o >= 17'(r_meta_q.ip4_lo) && o < 17'(r_meta_q.ip4_hi)) begin
                sum_ip4 = sum_ip4 + 18'({hi, lo});
            end
            if (in_ps || (o >= 17'(r_meta_q.l4_lo) && o < 17'(r_meta_q.l4_hi))) begin
                sum_l4 = sum_l4 + 18'({hi, (in_ps || o + 1 < 17'(r_meta_q.l4_hi)) ? lo : 8'd0});
            end
        end
    end

    // Sums including the beat in P; the checksum record when it is the last beat.
    always_comb begin
        acc_cc_n  = (p_first_q ? 32'd0 : acc_cc_q) + 32'(p_cc_q);
        acc_ip4_n = (p_first_q ? 32'd0 : acc_ip4_q) + 32'(p_ip4_q);
        acc_l4_n  = (p_first_q ? 32'd0 : acc_l4_q) + 32'(p_l4_q);
        csum_n          = '0;
        csum_n.csum     = fold(acc_cc_n);
        csum_n.ip4_csum = !p_meta_q.ip4_chk ? CS_NOT_CHECKED :
                          fold(acc_ip4_n) == 16'hFFFF ? CS_GOOD : CS_BAD;
        csum_n.l4_csum  = !p_meta_q.l4_chk ? CS_NOT_CHECKED :
                          p_meta_q.l4_bad ? CS_BAD :
                          fold(acc_l4_n + 32'(p_meta_q.l4_const)) == 16'hFFFF ? CS_GOOD : CS_BAD;
    end

    always_ff @(posedge clk) begin
        if (issue) begin
            {r_keep_q, r_data_q} <= mem[rd_ptr_q[ADDR_W-1:0]];
            r_last_q  <= last_mem[rd_ptr_q[ADDR_W-1:0]];
            r_first_q <= !rd_mid_q;
            r_off_q   <= issue_off;
            if (!rd_mid_q) begin
                r_meta_q <= mf_mem[mf_rd_q[MF_AW-1:0]];
            end
        end
        if (p_adv && r_valid_q) begin
            p_data_q  <= r_data_q;
            p_keep_q  <= r_keep_q;
            p_last_q  <= r_last_q;
            p_first_q <= r_first_q;
            p_cc_q    <= sum_cc;
            p_ip4_q   <= sum_ip4;
            p_l4_q    <= sum_l4;
            if (r_first_q) begin
                p_meta_q <= r_meta_q.fin;
            end
        end
        if (m_adv && p_valid_q) begin
            m_data_q  <= p_data_q;
            m_keep_q  <= p_keep_q;
            m_last_q  <= p_last_q;
            acc_cc_q  <= acc_cc_n;
            acc_ip4_q <= acc_ip4_n;
            acc_l4_q  <= acc_l4_n;
            if (p_first_q) begin
                m_hdr_q <= p_meta_q.hdr;
                m_tup_q <= p_meta_q.tup;
                m_len_q <= p_meta_q.len;
            end
            if (p_last_q) begin
                m_csum_q <= csum_n;
            end
        end
    end

    // =======================================================================================
    // Control registers
    // =======================================================================================
    always_ff @(posedge clk) begin
        if (rst) begin
            in_ready_q <= 1'b0;
            in_mid_q   <= 1'b0;
            wr_ptr_q   <= '0;
            rd_ptr_q   <= '0;
            hb_words_q <= '0;
            rcv_done_q <= 1'b0;
            state_q    <= S_IDLE;
            mf_wr_q    <= '0;
            mf_rd_q    <= '0;
            rd_mid_q   <= 1'b0;
            rd_off_q   <= '0;
            r_valid_q  <= 1'b0;
            p_valid_q  <= 1'b0;
            m_valid_q  <= 1'b0;
        end else begin
            in_ready_q <= 1'b1;
            in_mid_q   <= in_mid_d;
            wr_ptr_q   <= wr_ptr_d;
            rd_ptr_q   <= rd_ptr_d;
            hb_words_q <= hb_words_d;
            rcv_done_q <= rcv_done_d;
            state_q    <= state_d;
            mf_wr_q    <= mf_wr_d;
            mf_rd_q    <= mf_rd_d;
            rd_mid_q   <= rd_mid_d;
            rd_off_q   <= rd_off_d;
            r_valid_q  <= r_valid_d;
            p_valid_q  <= p_valid_d;
            m_valid_q  <= m_valid_d;
        end
    end

    assign mf_wr_d = mf_wr_q + MF_PTR_W'(mf_push);

    // =======================================================================================
    // Outputs
    // =======================================================================================
    assign m_axis_tdata  = m_data_q;
    assign m_axis_tkeep  = m_keep_q;
    assign m_axis_tvalid = m_valid_q;
    assign m_axis_tlast  = m_last_q;
    assign m_axis_tuser  = m_len_q;
    assign m_meta_hdr    = m_hdr_q;
    assign m_meta_tuple  = m_tup_q;
    assign m_meta_csum   = m_csum_q;

endmodule

`resetall

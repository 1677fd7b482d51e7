// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// RSS (user clock): Toeplitz hash of a frame's IPv4/IPv6 2-tuple or 4-tuple under a
// programmable 40-byte key, hash type, and queue from a 128-entry indirection table.
//
// Hash (Microsoft RSS, NdisHashFunctionToeplitz): for every input bit, first byte first and most
// significant bit first, if the bit is 1 the hash XORs in the 32 key bits starting at that bit's
// position. Input bytes in network order: source address, destination address, then for a
// 4-tuple source port and destination port (IPv4: 8 or 12 bytes; IPv6: 32 or 36 bytes).
//
// Key: key[319:312] is key byte 0 (the first byte of the key as RSS lists it), key[7:0] is byte
// 39; so key[319] is key bit 0, the bit the first input bit selects.
//
// Selection, decided when a request is accepted:
//   not IP (s_req_is_ip = 0)                    -> no hash: hash 0, RSS_TYPE_NONE
//   IP fragment (s_req_is_frag = 1)             -> 2-tuple, RSS_TYPE_IPV4 / IPV6 (all fragments
//                                                  of a datagram, first included, hash alike)
//   TCP                                         -> 4-tuple, RSS_TYPE_IPV4_TCP / IPV6_TCP
//   UDP with udp_4tuple = 1                     -> 4-tuple, RSS_TYPE_IPV4_UDP / IPV6_UDP
//   any other IP (UDP with udp_4tuple = 0, ...) -> 2-tuple, RSS_TYPE_IPV4 / IPV6
// TCP wins when a request sets both s_req_is_tcp and s_req_is_udp. m_res_queue is
// indirection[m_res_hash[6:0]] (entry 0 when there is no hash).
//
// Engine: the tuple (36 bytes, left aligned, unused bytes zero) is cut into chunks of
// BYTES_PER_CYCLE bytes, one hashed per cycle against the key window of 8*BYTES_PER_CYCLE+31
// bits that starts at the chunk's first bit. The accepting cycle hashes the first chunk from the
// request inputs and the key input; the rest of the tuple and a copy of the key go into shift
// registers, which move by BYTES_PER_CYCLE bytes per chunk. Each chunk's hash is registered and
// folded into the running hash the cycle after; the cycle after the last chunk the result
// register loads the hash and reads the indirection table. With C = ceil(tuple bytes /
// BYTES_PER_CYCLE) (C = 0 without hash) and the result register free by then: the result is
// on m_res C + 1 cycles after the accepting edge (2 without hash), and a new request is
// accepted every C + 1 cycles (every 2 without hash). At BYTES_PER_CYCLE = 8: IPv4 2-tuple 2,
// IPv4 4-tuple 3, IPv6 2-tuple 5, IPv6 4-tuple 6 cycles, per hash and latency alike. A hash
// that ends while the result register is still full waits (S_LAST) until it frees; requests
// are taken only in S_IDLE. key and udp_4tuple are sampled at the accepting edge; the
// indirection table is read in the cycle the result register loads (a write in that cycle is
// not seen yet).
//
// s_req_ready and m_res_valid depend on registered state only. m_res_* hold while
// m_res_valid && !m_res_ready. The indirection table is not reset: program it before use.
module rss_toeplitz #(
    // Queue number width in bits (indirection table entry width).
    parameter int unsigned Q_W             = 6,
    // Tuple bytes hashed per cycle, 1..36 (36: one cycle for any tuple).
    parameter int unsigned BYTES_PER_CYCLE = 8
) (
    input  logic                 clk,
    input  logic                 rst,

    // ---- configuration (plain levels; registers later) ----
    input  logic [319:0]         key,            // byte 0 in key[319:312], byte 39 in key[7:0]
    input  logic                 udp_4tuple,     // hash UDP over the 4-tuple (else 2-tuple)
    input  logic                 ind_wr_en,      // write indirection[ind_wr_addr] = ind_wr_queue
    input  logic [6:0]           ind_wr_addr,
    input  logic [Q_W-1:0]       ind_wr_queue,

    // ---- request: the tuple the parser extracted ----
    input  logic                 s_req_valid,
    output logic                 s_req_ready,
    input  logic                 s_req_is_ip,    // an IPv4 or IPv6 header was parsed
    input  logic                 s_req_is_ipv6,  // with s_req_is_ip: IPv6 (else IPv4)
    input  logic                 s_req_is_tcp,   // L4 is TCP
    input  logic                 s_req_is_udp,   // L4 is UDP
    input  logic                 s_req_is_frag,  // any IP fragment (first or later)
    input  logic [127:0]         s_req_src_addr, // IPv4 in [31:0]; network order, MSB first
    input  logic [127:0]         s_req_dst_addr,
    input  logic [15:0]          s_req_src_port,
    input  logic [15:0]          s_req_dst_port,

    // ---- result ----
    output logic                 m_res_valid,
    input  logic                 m_res_ready,
    output logic [31:0]          m_res_hash,     // 0 when m_res_rss_type is NONE
    output logic [$clog2(splitrx_records_pkg::RSS_TYPE_COUNT)-1:0] m_res_rss_type,  // RssType
    output logic [Q_W-1:0]       m_res_queue     // indirection[m_res_hash[6:0]]
);

    import splitrx_records_pkg::*;

    localparam int unsigned KEY_W       = 320;                        // key bits
    localparam int unsigned TUPLE_BYTES = 36;                         // IPv6 4-tuple
    localparam int unsigned TUPLE_W     = 8 * TUPLE_BYTES;
    localparam int unsigned CHUNK_W     = 8 * BYTES_PER_CYCLE;        // input bits per cycle
    localparam int unsigned WIN_W       = CHUNK_W + 31;               // key bits per cycle
    localparam int unsigned MAX_CHUNKS  = (TUPLE_BYTES + BYTES_PER_CYCLE - 1) / BYTES_PER_CYCLE;
    localparam int unsigned CNT_W       = $clog2(MAX_CHUNKS + 1);
    localparam int unsigned TYPE_W      = $clog2(RSS_TYPE_COUNT);
    localparam int unsigned IND_ENTRIES = 128;

    // Cycles (chunks) per tuple size.
    localparam logic [CNT_W-1:0] C_V4_2 = CNT_W'((8 + BYTES_PER_CYCLE - 1) / BYTES_PER_CYCLE);
    localparam logic [CNT_W-1:0] C_V4_4 = CNT_W'((12 + BYTES_PER_CYCLE - 1) / BYTES_PER_CYCLE);
    localparam logic [CNT_W-1:0] C_V6_2 = CNT_W'((32 + BYTES_PER_CYCLE - 1) / BYTES_PER_CYCLE);
    localparam logic [CNT_W-1:0] C_V6_4 = CNT_W'((36 + BYTES_PER_CYCLE - 1) / BYTES_PER_CYCLE);

    if (BYTES_PER_CYCLE < 1 || BYTES_PER_CYCLE > TUPLE_BYTES) begin : g_check_bpc
        $fatal(0, "rss_toeplitz: BYTES_PER_CYCLE must be in 1..36 (instance %m)");
    end
    if (Q_W < 1 || Q_W > 16) begin : g_check_qw
        $fatal(0, "rss_toeplitz: Q_W must be in 1..16 (instance %m)");
    end

    // Hash of one chunk: input bit i (i = 0 is the chunk's first, most significant bit) selects
    // window bits i..i+31 counted from the window's most significant bit.
    function automatic logic [31:0] chunk_hash(input logic [CHUNK_W-1:0] bits,
                                               input logic [WIN_W-1:0] win);
        logic [31:0] h;
        h = '0;
        for (int i = 0; i < int'(CHUNK_W); i++) begin
            if (bits[CHUNK_W-1-i]) begin
                h = h ^ win[WIN_W-1-i -: 32];
            end
        end
        return h;
    endfunction

    typedef enum logic [1:0] {
        S_IDLE,  // no request in the engine (the result register may hold one)
        S_HASH,  // chunks left in tuple_q to hash
        S_LAST   // every chunk hashed: the result acc_q ^ part_q loads once the register frees
    } state_e;

    // ---------------------------------------------------------------------------------------
    // Storage (unreset)
    // ---------------------------------------------------------------------------------------
    logic [Q_W-1:0] ind [IND_ENTRIES];   // indirection table

    // ---------------------------------------------------------------------------------------
    // Control state
    // ---------------------------------------------------------------------------------------
    logic             live_q;                 // out of reset: take requests
    state_e           state_q, state_d;
    logic [CNT_W-1:0] left_q, left_d;         // chunks still in tuple_q to hash
    logic             m_valid_q, m_valid_d;   // result register holds a result

    // ---- datapath registers (unreset) ----
    logic [TUPLE_W-1:0] tuple_q, tuple_d;     // input bytes not hashed yet, next one at the top
    logic [KEY_W-1:0]   key_q, key_d;         // key, shifted along with the input
    logic [31:0]        part_q, part_d;       // hash of the chunk hashed last cycle
    logic [31:0]        acc_q, acc_d;         // hash of the chunks before it
    logic [TYPE_W-1:0]  type_q, type_d;       // hash type of the request in the engine
    logic [31:0]        m_hash_q;
    logic [TYPE_W-1:0]  m_type_q;
    logic [Q_W-1:0]     m_queue_q;

    // ---- combinational ----
    logic               accept;               // request handshake
    logic               m_free;               // result register can load this cycle
    logic               m_load;               // load it
    logic [CHUNK_W-1:0] chunk_bits;           // the chunk hashed this cycle
    logic [WIN_W-1:0]   chunk_win;            // its key window
    logic [31:0]        chunk_h;              // its hash
    logic [31:0]        m_hash_d;             // the finished hash (in S_LAST)
    logic               four;                 // request hashes its 4-tuple
    logic [TUPLE_W-1:0] req_tuple;            // request's hash input, left aligned
    logic [CNT_W-1:0]   req_chunks;           // its chunks
    logic [TYPE_W-1:0]  req_type;

    // ---------------------------------------------------------------------------------------
    // Request decode
    // ---------------------------------------------------------------------------------------
    always_comb begin
        four       = 1'b0;
        req_type   = TYPE_W'(RSS_TYPE_NONE);
        req_chunks = '0;
        req_tuple  = '0;

        if (s_req_is_ip) begin
            if (s_req_is_frag) begin
                four     = 1'b0;
                req_type = TYPE_W'(s_req_is_ipv6 ? RSS_TYPE_IPV6 : RSS_TYPE_IPV4);
            end else if (s_req_is_tcp) begin
                four     = 1'b1;
                req_type = TYPE_W'(s_req_is_ipv6 ? RSS_TYPE_IPV6_TCP : RSS_TYPE_IPV4_TCP);
            end else if (s_req_is_udp && udp_4tuple) begin
                four     = 1'b1;
                req_type = TYPE_W'(s_req_is_ipv6 ? RSS_TYPE_IPV6_UDP : RSS_TYPE_IPV4_UDP);
            end else begin
                four     = 1'b0;
                req_type = TYPE_W'(s_req_is_ipv6 ? RSS_TYPE_IPV6 : RSS_TYPE_IPV4);
            end
            if (s_req_is_ipv6) begin
                req_chunks = four ? C_V6_4 : C_V6_2;
                req_tuple  = {s_req_src_addr, s_req_dst_addr,
                              four ? {s_req_src_port, s_req_dst_port} : 32'd0};
            end else begin
                req_chunks = four ? C_V4_4 : C_V4_2;
                req_tuple  = {s_req_src_addr[31:0], s_req_dst_addr[31:0],
                              four ? {s_req_src_port, s_req_dst_port} : 32'd0,
                              (TUPLE_W - 96)'(0)};
            end
        end
    end

    // ---------------------------------------------------------------------------------------
    // Engine
    // ---------------------------------------------------------------------------------------
    // One chunk is hashed per cycle into part_q and folded into acc_q the cycle after, so the
    // indirection read at the end starts from registers (acc_q ^ part_q). The first chunk is
    // hashed in the accepting cycle, straight from the request and the key inputs. Which chunk
    // is hashed follows from the state alone, and the result loads only in S_LAST: s_req_valid
    // and m_res_ready (late signals from rx_place) reach only load enables and the next state.
    always_comb begin
        if (state_q == S_HASH) begin
            chunk_bits = tuple_q[TUPLE_W-1 -: CHUNK_W];
            chunk_win  = key_q[KEY_W-1 -: WIN_W];
        end else begin
            chunk_bits = req_tuple[TUPLE_W-1 -: CHUNK_W];
            chunk_win  = key[KEY_W-1 -: WIN_W];
        end
        chunk_h = chunk_hash(chunk_bits, chunk_win);
    end

    always_comb begin
        state_d   = state_q;
        left_d    = left_q;
        m_valid_d = m_valid_q;
        tuple_d   = tuple_q;
        key_d     = key_q;
        part_d    = part_q;
        acc_d     = acc_q;
        type_d    = type_q;
        m_load    = 1'b0;

        m_free      = !m_valid_q || m_res_ready;
        s_req_ready = live_q && state_q == S_IDLE;
        accept      = s_req_valid && s_req_ready;

        if (m_valid_q && m_res_ready) begin
            m_valid_d = 1'b0;
        end

        unique case (state_q)
            S_HASH: begin
                part_d  = chunk_h;
                acc_d   = acc_q ^ part_q;
                tuple_d = TUPLE_W'({tuple_q, CHUNK_W'(0)});  // << CHUNK_W (may equal TUPLE_W)
                key_d   = key_q << CHUNK_W;
                left_d  = left_q - 1'b1;
                if (left_q == CNT_W'(1)) begin
                    state_d = S_LAST;
                end
            end
            S_LAST: begin
                if (m_free) begin
                    m_load  = 1'b1;
                    state_d = S_IDLE;
                end
            end
            default: begin  // S_IDLE
                if (accept) begin
                    part_d  = chunk_h;  // 0 without hash (req_tuple is 0)
                    acc_d   = '0;
                    tuple_d = TUPLE_W'({req_tuple, CHUNK_W'(0)});
                    key_d   = key << CHUNK_W;
                    type_d  = req_type;
                    left_d  = req_chunks - 1'b1;
                    if (req_chunks == '0 || req_chunks == CNT_W'(1)) begin
                        state_d = S_LAST;
                    end else begin
                        state_d = S_HASH;
                    end
                end
            end
        endcase

        if (m_load) begin
            m_valid_d = 1'b1;
        end

        m_hash_d = acc_q ^ part_q;
    end

    always_ff @(posedge clk) begin
        tuple_q <= tuple_d;
        key_q   <= key_d;
        part_q  <= part_d;
        acc_q   <= acc_d;
        type_q  <= type_d;
        if (m_load) begin
            m_hash_q  <= m_hash_d;
            m_type_q  <= type_q;
            m_queue_q <= ind[m_hash_d[6:0]];
        end
        if (ind_wr_en) begin
            ind[ind_wr_addr] <= ind_wr_queue;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Control registers
    // ---------------------------------------------------------------------------------------
    always_ff @(posedge clk) begin
        if (rst) begin
            live_q    <= 1'b0;
            state_q   <= S_IDLE;
            left_q    <= '0;
            m_valid_q <= 1'b0;
        end else begin
            live_q    <= 1'b1;
            state_q   <= state_d;
            left_q    <= left_d;
            m_valid_q <= m_valid_d;
        end
    end

    // ---------------------------------------------------------------------------------------
    // Outputs
    // ---------------------------------------------------------------------------------------
    assign m_res_valid    = m_valid_q;
    assign m_res_hash     = m_hash_q;
    assign m_res_rss_type = m_type_q;
    assign m_res_queue    = m_queue_q;

endmodule

`resetall

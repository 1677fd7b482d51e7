// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Descriptor prefetch and cache for NQ RX queues (docs/dma.md "Descriptors and the cache").
//
// As soon as the host posts descriptors (DESC_TAIL moves), reads of up to BURST descriptors
// are issued, round robin over queues, each into cache slots reserved at issue. A read never
// crosses the ring's end, a 4 KiB page or Max Read Request Size. A read cut short only by
// cache room waits for room, so reads stay large, but once the queue has taken nothing from
// its cache for TOPUP clocks the read goes out anyway: a quiet queue whose cache lacks fewer
// than BURST descriptors fills it, so that a frame may use all DEPTH descriptors. Completions may arrive split (at RCB
// or MPS) and out of order across tags: each 256-bit completion beat is one 32-byte
// descriptor, placed by the completion's byte count (bytes of the request still to come). The placement engine reads the cache
// at an offset from the queue's head and pops the descriptors a frame used.
//
// Tags: TAGS reads may be outstanding. A tag is free again when its last completion arrives
// or it is answered with an error; never earlier, in particular not on a queue reset: a reset
// bumps the queue's generation and the data of reads issued before it is discarded when it
// returns. A read not answered within cfg_rd_timeout x 256 clocks stops its queue; its tag is
// retired (not reused, not counted as pending for the queue) until a completion for it
// arrives, which is then discarded, so a late answer can never be taken for a newer read.
module rx_desc_cache #(
    // Number of RX queues
    parameter int NQ = 8,
    // Descriptors cached per queue (power of two)
    parameter int DEPTH = 32,
    // Largest read in descriptors
    parameter int BURST = 8,
    // Outstanding read tags
    parameter int TAGS = 16,
    // Clocks without a pop after which a read cut short by cache room is issued anyway
    parameter int TOPUP = 256,
    // Request/completion stream width in bits (one descriptor per beat)
    parameter int AXIS_W = 256
) (
    input  wire                          clk,
    input  wire                          rst,

    // Queue configuration
    input  wire [NQ-1:0]                 q_fetch_en,       // enabled and not in error
    input  wire [NQ-1:0]                 q_reset,          // pulse
    input  wire [NQ-1:0][63:0]           q_desc_base,
    input  wire [NQ-1:0][4:0]            q_desc_size_log2,
    input  wire [NQ-1:0][15:0]           q_desc_tail,
    input  wire [2:0]                    cfg_max_read_req, // MRRS = 128 << value bytes
    input  wire [15:0]                   cfg_rd_timeout,   // x 256 clocks; 0: never

    // Placement engine: descriptor at head + rd_off of queue rd_q
    input  wire [$clog2(NQ)-1:0]         rd_q,
    input  wire [$clog2(DEPTH)-1:0]      rd_off,
    output splitrx_records_pkg::rx_desc_t rd_desc,
    output logic                         rd_valid,
    // ... and consumes pop_n descriptors of queue pop_q
    input  wire                          pop,
    input  wire [$clog2(NQ)-1:0]         pop_q,
    input  wire [$clog2(DEPTH):0]        pop_n,

    // Per-queue state
    output logic [NQ-1:0][15:0]          q_head,           // DESC_HEAD
    output logic [NQ-1:0]                q_reads_pending,  // a read of the queue is outstanding
    output logic [NQ-1:0]                q_err_read,       // pulse: read answered UR/CA
    output logic [NQ-1:0]                q_err_timeout,    // pulse: read timed out

    // Read requests
    output logic [AXIS_W-1:0]            m_axis_req_tdata,
    output logic [AXIS_W/32-1:0]         m_axis_req_tkeep,
    output logic                         m_axis_req_tvalid,
    input  wire                          m_axis_req_tready,
    output logic                         m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser,

    // Their completions
    input  wire [AXIS_W-1:0]             s_axis_cpl_tdata,
    input  wire [AXIS_W/32-1:0]          s_axis_cpl_tkeep,
    input  wire                          s_axis_cpl_tvalid,
    output logic                         s_axis_cpl_tready,
    input  wire                          s_axis_cpl_tlast,
    input  wire [splitrx_pcie_pkg::CPL_HDR_W-1:0] s_axis_cpl_tuser
);

    import splitrx_pcie_pkg::*;
    import splitrx_records_pkg::*;

    localparam int QW = $clog2(NQ);
    localparam int DW = $clog2(DEPTH);
    localparam int TW = $clog2(TAGS);
    localparam int GEN_W = 4;

    if (AXIS_W != 8 * RX_DESC_BYTES) begin : gen_check_width
        $fatal(0, "rx_desc_cache: one descriptor per beat needs AXIS_W = 256 (instance %m)");
    end
    if ((1 << DW) != DEPTH || BURST > DEPTH || TAGS > 256) begin : gen_check_depth
        $fatal(0, "rx_desc_cache: DEPTH a power of two >= BURST, TAGS <= 256 (instance %m)");
    end

    // ---------------------------------------------------------------- state
    rx_desc_t             mem_q [NQ*DEPTH];     // datapath: no reset
    logic [NQ-1:0][DEPTH-1:0] vld_q;
    logic [NQ-1:0][15:0]  head_q, fetch_q;
    logic [NQ-1:0][GEN_W-1:0] gen_q;

    logic [TAGS-1:0]      tag_busy_q;
    logic [TAGS-1:0]      tag_dead_q;           // timed out, waiting for a late answer
    logic [QW-1:0]        tag_q_q   [TAGS];
    logic [GEN_W-1:0]     tag_gen_q [TAGS];
    logic [15:0]          tag_idx_q [TAGS];     // ring index of the first descriptor read
    logic [12:0]          tag_bytes_q[TAGS];    // bytes requested
    logic [15:0]          tag_age_q [TAGS];     // in 256-clock ticks

    logic [7:0]           tick_q;               // prescaler for the timeout
    logic [NQ-1:0][$clog2(TOPUP+1)-1:0] topup_q; // clocks a room-cut read has waited
    logic                 req_valid_q;
    req_hdr_t             req_hdr_q;
    logic [QW-1:0]        rr_q;                 // queue served last
    logic [DW-1:0]        cpl_beat_q;           // beat within the current completion

    // ---------------------------------------------------------------- engine port
    always_comb begin
        logic [DW-1:0] slot;
        slot     = DW'(head_q[rd_q]) + rd_off;
        rd_desc  = mem_q[{rd_q, slot}];
        rd_valid = vld_q[rd_q][slot];
    end

    assign q_head = head_q;

    // ---------------------------------------------------------------- read scheduling
    // Descriptors of queue q the next read may cover: posted and unfetched, cache room,
    // BURST, ring end, 4 KiB page, MRRS.
    logic [NQ-1:0]        eligible, room_cut;
    logic [NQ-1:0][8:0]   burst_n;
    logic [TAGS-1:0]      tag_free;
    logic [TW-1:0]        free_tag;
    logic                 have_tag;

    always_comb begin
        logic [15:0] unfetched, room, ring_room, page_room, mrrs_room, n;
        logic        short;
        logic [15:0] slot_idx;
        logic [11:0] addr_lo;
        for (int q = 0; q < NQ; q++) begin
            unfetched = q_desc_tail[q] - fetch_q[q];
            room      = 16'(DEPTH) - (fetch_q[q] - head_q[q]);
            slot_idx  = fetch_q[q] & 16'((17'd1 << q_desc_size_log2[q]) - 17'd1);
            ring_room = 16'((17'd1 << q_desc_size_log2[q]) - 17'(slot_idx));
            addr_lo   = q_desc_base[q][11:0] + {slot_idx[6:0], 5'd0};
            page_room = (16'h1000 - {4'd0, addr_lo}) >> 5;
            mrrs_room = 16'((16'd128 << cfg_max_read_req) >> 5);
            n = 16'(BURST);
            if (unfetched < n) n = unfetched;
            if (ring_room < n) n = ring_room;
            if (page_room < n) n = page_room;
            if (mrrs_room < n) n = mrrs_room;
            // the read as large as it may be; cut by cache room it waits (up to TOPUP)
            short = room < n;
            if (short) n = room;
            burst_n[q]  = 9'(n);
            room_cut[q] = short && n != 16'd0;
            eligible[q] = q_fetch_en[q] && !q_reset[q] && unfetched != 16'd0
                       && unfetched <= 16'(1 << 15) && n != 16'd0
                       && (!short || 32'(topup_q[q]) == TOPUP);
        end
        tag_free = ~tag_busy_q;
        have_tag = |tag_free;
        free_tag = '0;
        for (int t = TAGS - 1; t >= 0; t--) begin
            if (tag_free[t]) begin
                free_tag = TW'(t);
            end
        end
    end

    // round robin: first eligible queue after rr_q
    logic          pick_valid;
    logic [QW-1:0] pick_q;
    always_comb begin
        pick_valid = 1'b0;
        pick_q     = '0;
        for (int i = NQ; i >= 1; i--) begin
            logic [QW-1:0] q;
            q = QW'(32'(rr_q) + i);
            if (eligible[q]) begin
                pick_valid = 1'b1;
                pick_q     = q;
            end
        end
    end

    wire issue = pick_valid && have_tag && (!req_valid_q || m_axis_req_tready);

    always_comb begin
        m_axis_req_tdata  = '0;
        m_axis_req_tkeep  = '0;
        m_axis_req_tvalid = req_valid_q;
        m_axis_req_tlast  = 1'b1;
        m_axis_req_tuser  = req_hdr_q;
    end

    // ---------------------------------------------------------------- completions
    cpl_hdr_t cpl_hdr;
    assign cpl_hdr = cpl_hdr_t'(s_axis_cpl_tuser);
    assign s_axis_cpl_tready = 1'b1;   // written straight into the cache

    wire [TW-1:0]    c_tag   = TW'(cpl_hdr.tag);
    wire [QW-1:0]    c_q     = tag_q_q[c_tag];
    wire             c_live  = tag_busy_q[c_tag] && !tag_dead_q[c_tag]
                            && tag_gen_q[c_tag] == gen_q[c_q] && !q_reset[c_q];
    wire             c_ok    = cpl_hdr.status == CPL_SC && cpl_hdr.error_code == 4'd0;
    // offset of this completion in its request: requested bytes minus bytes still to come
    wire [12:0]      c_off   = tag_bytes_q[c_tag] - cpl_hdr.byte_count;
    wire [DW-1:0]    c_slot  = DW'(tag_idx_q[c_tag]) + DW'(c_off >> 5) + DW'(cpl_beat_q);
    wire             c_beat  = s_axis_cpl_tvalid;
    wire             c_end   = c_beat && s_axis_cpl_tlast
                            && (cpl_hdr.request_completed || !c_ok);

    // timeout: the lowest-numbered expired tag, one per clock
    logic          to_valid;
    logic [TW-1:0] to_tag;
    always_comb begin
        to_valid = 1'b0;
        to_tag   = '0;
        for (int t = TAGS - 1; t >= 0; t--) begin
            if (tag_busy_q[t] && !tag_dead_q[t] && cfg_rd_timeout != 16'd0
                && tag_age_q[t] >= cfg_rd_timeout
                && !(c_beat && c_tag == TW'(t))) begin
                to_valid = 1'b1;
                to_tag   = TW'(t);
            end
        end
    end

    always_comb begin
        q_reads_pending = '0;
        for (int t = 0; t < TAGS; t++) begin
            if (tag_busy_q[t] && !tag_dead_q[t]) begin
                q_reads_pending[tag_q_q[t]] = 1'b1;
            end
        end
        q_err_read    = '0;
        q_err_timeout = '0;
        if (c_beat && s_axis_cpl_tlast && !c_ok && c_live) begin
            q_err_read[c_q] = 1'b1;
        end
        if (to_valid && tag_gen_q[to_tag] == gen_q[tag_q_q[to_tag]]) begin
            q_err_timeout[tag_q_q[to_tag]] = 1'b1;
        end
    end

    // ---------------------------------------------------------------- sequential
    always_ff @(posedge clk) begin
        // cache contents
        if (c_beat && c_ok && c_live) begin
            mem_q[{c_q, c_slot}] <= rx_desc_t'(s_axis_cpl_tdata[8*RX_DESC_BYTES-1:0]);
        end

        if (rst) begin
            topup_q     <= '0;
            vld_q       <= '0;
            head_q      <= '0;
            fetch_q     <= '0;
            gen_q       <= '0;
            tag_busy_q  <= '0;
            tag_dead_q  <= '0;
            tick_q      <= '0;
            req_valid_q <= 1'b0;
            rr_q        <= '0;
            cpl_beat_q  <= '0;
        end else begin
            tick_q <= tick_q + 8'd1;
            for (int q = 0; q < NQ; q++) begin
                // counts only while nothing is taken from the cache: a busy queue keeps
                // its reads large, a quiet one is topped up
                if (!room_cut[q] || q_reset[q] || !q_fetch_en[q]
                    || (issue && pick_q == QW'(q)) || (pop && pop_q == QW'(q))) begin
                    topup_q[q] <= '0;
                end else if (32'(topup_q[q]) != TOPUP) begin
                    topup_q[q] <= topup_q[q] + 1'b1;
                end
            end

            // request register
            if (m_axis_req_tready) begin
                req_valid_q <= 1'b0;
            end
            if (issue) begin
                logic [15:0] slot_idx;
                slot_idx = fetch_q[pick_q] & 16'((17'd1 << q_desc_size_log2[pick_q]) - 17'd1);
                req_valid_q          <= 1'b1;
                req_hdr_q            <= '0;
                req_hdr_q.kind       <= REQ_MEM_RD;
                req_hdr_q.tag        <= 8'(free_tag);
                req_hdr_q.addr       <= q_desc_base[pick_q] + 64'({slot_idx, 5'd0});
                req_hdr_q.dw_count   <= 11'({burst_n[pick_q], 3'd0});
                req_hdr_q.first_be   <= 4'hf;
                req_hdr_q.last_be    <= 4'hf;
                fetch_q[pick_q]      <= fetch_q[pick_q] + 16'(burst_n[pick_q]);
                rr_q                 <= pick_q;
                tag_busy_q[free_tag] <= 1'b1;
                tag_q_q[free_tag]    <= pick_q;
                tag_gen_q[free_tag]  <= gen_q[pick_q];
                tag_idx_q[free_tag]  <= fetch_q[pick_q];
                tag_bytes_q[free_tag] <= 13'({burst_n[pick_q], 5'd0});
                tag_age_q[free_tag]  <= '0;
            end

            // tag ages
            if (tick_q == 8'hff) begin
                for (int t = 0; t < TAGS; t++) begin
                    if (tag_busy_q[t] && tag_age_q[t] != 16'hffff
                        && !(issue && free_tag == TW'(t))) begin
                        tag_age_q[t] <= tag_age_q[t] + 16'd1;
                    end
                end
            end

            // completions
            if (c_beat) begin
                cpl_beat_q <= s_axis_cpl_tlast ? '0 : cpl_beat_q + DW'(1);
                if (c_ok && c_live) begin
                    vld_q[c_q][c_slot] <= 1'b1;
                end
            end
            if (c_end) begin
                tag_busy_q[c_tag] <= 1'b0;
                tag_dead_q[c_tag] <= 1'b0;
            end
            if (to_valid) begin
                tag_dead_q[to_tag] <= 1'b1;
            end

            // pops
            if (pop) begin
                head_q[pop_q] <= head_q[pop_q] + 16'(pop_n);
                for (int s = 0; s < DEPTH; s++) begin
                    if (DW'(s - 32'(head_q[pop_q])) < DW'(pop_n) || 32'(pop_n) == DEPTH) begin
                        vld_q[pop_q][s] <= 1'b0;
                    end
                end
            end

            // queue resets win over everything else of the queue
            for (int q = 0; q < NQ; q++) begin
                if (q_reset[q]) begin
                    head_q[q]  <= '0;
                    fetch_q[q] <= '0;
                    vld_q[q]   <= '0;
                    gen_q[q]   <= gen_q[q] + GEN_W'(1);
                end
            end
        end
    end

    logic unused;
    assign unused = ^{s_axis_cpl_tkeep, cpl_hdr.lower_addr, cpl_hdr.dw_count};

endmodule

`resetall

// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Placement engine: takes each frame from the parser, asks rss_toeplitz for its RSS hash and
// queue and then rx_steer for its queue, applies the per-frame checks of docs/dma.md, plans
// the frame over the queue's cached descriptors (groups, mergeable, too long), writes the
// header to the header buffer and the rest at its stream positions (TLPs cut at buffer ends
// and Max Payload Size, which also keeps them inside 4 KiB pages), then hands the completion
// record to rx_cpl_wr and pops the descriptors.
//
// RSS: the hash of a frame is asked for as soon as its first beat waits at the input, which is
// while the previous frame is still being written when frames queue up; its result waits in
// rss_toeplitz's output register until the frame's steering request takes it (the RSS queue
// goes with the request, the hash and type into the completion).
//
// Frame bytes go through a byte accumulator: 8 bytes in per clock, up to 32 out per TLP beat.
// Each segment (a run of the frame inside one buffer) starts with the accumulator shifted by
// the destination's offset within its dword, since TLP payloads are dword-aligned.
module rx_place #(
    // Number of RX queues
    parameter int NQ = 8,
    // Descriptors cached per queue: the most one frame may use
    parameter int DEPTH = 32,
    // Request stream width in bits
    parameter int AXIS_W = 256
) (
    input  wire                  clk,
    input  wire                  rst,

    // Frames (tuser: frame length in bytes, on every beat)
    input  wire [63:0]           s_axis_frame_tdata,
    input  wire [7:0]            s_axis_frame_tkeep,
    input  wire                  s_axis_frame_tvalid,
    output logic                 s_axis_frame_tready,
    input  wire                  s_axis_frame_tlast,
    input  wire [15:0]           s_axis_frame_tuser,
    input  wire [splitrx_meta_pkg::META_HDR_W-1:0]   s_meta_hdr,
    input  wire [splitrx_meta_pkg::META_TUPLE_W-1:0] s_meta_tuple,
    input  wire [splitrx_meta_pkg::META_CSUM_W-1:0]  s_meta_csum,

    // RSS lookup (rss_toeplitz): the frame's tuple in, hash, type and queue out
    output logic                 rss_req_valid,
    input  wire                  rss_req_ready,
    output logic [splitrx_meta_pkg::META_TUPLE_W-1:0] rss_req_tuple,
    input  wire                  rss_res_valid,
    output logic                 rss_res_ready,
    input  wire [31:0]           rss_res_hash,
    input  wire [$clog2(splitrx_records_pkg::RSS_TYPE_COUNT)-1:0] rss_res_type,
    input  wire [5:0]            rss_res_queue,

    // Steering lookup
    output logic                 steer_req_valid,
    input  wire                  steer_req_ready,
    output logic [47:0]          steer_req_mac,          // [47:40] = first byte on the wire
    output logic                 steer_req_vlan_present,
    output logic [11:0]          steer_req_vlan_id,
    output logic [5:0]           steer_req_rss_queue,
    input  wire                  steer_res_valid,
    output logic                 steer_res_ready,
    input  wire                  steer_res_drop,         // filtered
    input  wire [5:0]            steer_res_queue,

    // Queue configuration and state
    input  wire [NQ-1:0]         q_enable,
    input  wire [NQ-1:0]         q_error,
    input  wire [NQ-1:0]         q_reset,
    input  wire [NQ-1:0][1:0]    q_mode,
    input  wire [NQ-1:0][1:0]    q_split_level,
    input  wire [NQ-1:0]         q_mergeable,
    input  wire [NQ-1:0]         q_drop_when_empty,
    input  wire [NQ-1:0][11:0]   q_data_offset,
    input  wire [NQ-1:0][15:0]   q_desc_tail,
    input  wire [NQ-1:0][15:0]   q_desc_head,
    input  wire [NQ-1:0][15:0]   q_cpl_head,
    input  wire [NQ-1:0][15:0]   q_cpl_accepted,
    input  wire [NQ-1:0][4:0]    q_cpl_size_log2,
    input  wire [2:0]            cfg_max_payload,
    input  wire [15:0]           cfg_desc_wait,

    // Descriptor cache
    output logic [$clog2(NQ)-1:0]    rd_q,
    output logic [$clog2(DEPTH)-1:0] rd_off,
    input  wire splitrx_records_pkg::rx_desc_t rd_desc,
    input  wire                  rd_valid,
    output logic                 pop,
    output logic [$clog2(NQ)-1:0] pop_q,
    output logic [$clog2(DEPTH):0] pop_n,

    // Data writes
    output logic [AXIS_W-1:0]    m_axis_req_tdata,
    output logic [AXIS_W/32-1:0] m_axis_req_tkeep,
    output logic                 m_axis_req_tvalid,
    input  wire                  m_axis_req_tready,
    output logic                 m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser,

    // Completion records to rx_cpl_wr
    output logic                 m_rec_valid,
    input  wire                  m_rec_ready,
    output logic [$clog2(NQ)-1:0] m_rec_q,
    output splitrx_records_pkg::rx_cpl_t m_rec,

    // Queue errors found here (pulse, with the code)
    output logic                 err_valid,
    output logic [$clog2(NQ)-1:0] err_q,
    output logic [7:0]           err_code,

    // Busy with a frame of queue busy_q
    output logic                 busy,
    output logic [$clog2(NQ)-1:0] busy_q,

    // One event per frame: delivered, or dropped with a reason (queue_valid: the frame had
    // a queue of this NIC)
    output logic                 ev_delivered,
    output logic [15:0]          ev_bytes,
    output logic                 ev_drop,
    output logic [3:0]           ev_drop_reason,
    output logic                 ev_queue_valid,
    output logic [$clog2(NQ)-1:0] ev_queue
);

    import splitrx_pcie_pkg::*;
    import splitrx_records_pkg::*;
    import splitrx_meta_pkg::*;

    localparam int QW = $clog2(NQ);
    localparam int DW = $clog2(DEPTH);
    localparam int RSS_TYPE_W = $clog2(RSS_TYPE_COUNT);
    localparam int BEAT_BYTES = AXIS_W / 8;
    localparam int ACC_BYTES = 2 * BEAT_BYTES;
    // a beat is taken only if the accumulator still has room for it and a segment's pad
    localparam int PUSH_LIMIT = ACC_BYTES - 8 - 3;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "rx_place: only AXIS_W = 256 is implemented (instance %m)");
    end

    typedef enum logic [3:0] {
        ST_IDLE,      // waiting for a frame; asks rx_steer
        ST_STEER,     // waiting for the steering answer
        ST_DECIDE,    // queue checks; waits for the first descriptor
        ST_PLAN,      // walks the descriptors the frame needs, one per clock
        ST_SEG,       // next segment: header buffer or the buffer holding the stream position
        ST_WR_HDR,    // next TLP of the segment
        ST_WR_DATA,   // its payload beats
        ST_CPL,       // completion record to rx_cpl_wr, descriptors popped
        ST_DRAIN      // discarding the rest of a frame, then its drop or too-long completion
    } state_e;

    state_e state_q, state_d;

    // frame and plan (datapath: no reset)
    logic [QW-1:0]  q_q, q_d;
    logic [15:0]    len_q, len_d;
    meta_hdr_t      meta_q, meta_d;
    meta_csum_t     csum_q, csum_d;
    logic [15:0]    wait_q, wait_d;
    logic [DW:0]    k_q, k_d;               // walk position (descriptors from head)
    logic [37:0]    cap_q, cap_d;           // buffer bytes of the descriptors walked
    logic [DW:0]    first_grp_q, first_grp_d;   // descriptors of the first group (0: not seen)
    logic [7:0]     groups_q, groups_d;
    logic [DW:0]    ndesc_q, ndesc_d;
    logic           split_want_q, split_want_d;
    logic           split_q, split_d;
    logic [15:0]    h_q, h_d;
    logic [16:0]    end_q, end_d;           // stream end E
    logic           too_long_q, too_long_d;
    logic [3:0]     reason_q, reason_d;     // drop reason in ST_DRAIN
    logic           qvalid_q, qvalid_d;     // the frame has a queue of this NIC
    rx_desc_t       d0_q, d0_d;             // first descriptor
    logic           abort_q, abort_d;       // queue reset while the frame was being placed
    logic [31:0]    rss_hash_q, rss_hash_d;
    logic [RSS_TYPE_W-1:0] rss_type_q, rss_type_d;
    logic           rss_asked_q, rss_asked_d;  // control: the waiting first beat's hash is asked

    // segments
    logic           hdr_pend_q, hdr_pend_d; // the header segment comes next
    logic [DW:0]    sk_q, sk_d;             // descriptor holding the stream position
    logic [31:0]    soff_q, soff_d;         // offset of the stream position in it
    logic [15:0]    rem_q, rem_d;           // frame bytes still to write after this segment
    logic [63:0]    wr_addr_q, wr_addr_d;
    logic [63:0]    wr_end_q, wr_end_d;
    logic [12:0]    stream_rem_q, stream_rem_d;
    req_hdr_t       hdr_q, hdr_d;

    // accumulator
    logic [8*ACC_BYTES-1:0] acc_q, acc_d;
    logic [6:0]             fill_q, fill_d;
    logic                   in_done_q, in_done_d;

    meta_hdr_t meta_in;
    assign meta_in = meta_hdr_t'(s_meta_hdr);

    wire [12:0] mps_bytes = 13'd128 << cfg_max_payload;

    // ---------------------------------------------------------------- queue checks
    wire [15:0] posted   = q_desc_tail[q_q] - q_desc_head[q_q];
    wire [16:0] cpl_used = {1'b0, q_cpl_accepted[q_q] - q_cpl_head[q_q]};
    wire        cpl_full = cpl_used >= (17'd1 << q_cpl_size_log2[q_q]);

    // split point at the queue's level
    logic [15:0] lvl_end;
    logic        lvl_ok;
    always_comb begin
        unique case (q_split_level[q_q])
            2'(SPLIT_LEVEL_L2): begin lvl_end = meta_q.l2_end; lvl_ok = meta_q.l2_ok; end
            2'(SPLIT_LEVEL_L3): begin lvl_end = meta_q.l3_end; lvl_ok = meta_q.l3_ok; end
            default:            begin lvl_end = meta_q.l4_end; lvl_ok = meta_q.l4_ok; end
        endcase
    end

    // ---------------------------------------------------------------- TLP of a segment
    logic [63:0] tlp_end;
    logic [12:0] tlp_stream_bytes;
    logic [10:0] tlp_dw;
    always_comb begin
        logic [63:0] boundary;
        boundary = (wr_addr_q | 64'(mps_bytes - 13'd1)) + 64'd1;
        tlp_end = (boundary < wr_end_q) ? boundary : wr_end_q;
        tlp_stream_bytes = 13'(tlp_end - {wr_addr_q[63:2], 2'b00});
        tlp_dw = 11'((tlp_stream_bytes + 13'd3) >> 2);
    end

    function automatic logic [3:0] first_be_of(input logic [1:0] off);
        return 4'hf << off;
    endfunction

    function automatic logic [3:0] last_be_of(input logic [1:0] end_off);
        return (end_off == 2'd0) ? 4'hf : (4'hf >> (3'd4 - {1'b0, end_off}));
    endfunction

    wire [12:0] need = (stream_rem_q > 13'(BEAT_BYTES)) ? 13'(BEAT_BYTES) : stream_rem_q;

    always_comb begin
        m_axis_req_tvalid = (state_q == ST_WR_DATA) && (13'(fill_q) >= need);
        m_axis_req_tdata  = acc_q[AXIS_W-1:0];
        for (int i = 0; i < AXIS_W / 32; i++) begin
            m_axis_req_tkeep[i] = (13'(4 * i) < need);
        end
        m_axis_req_tlast = (stream_rem_q <= 13'(BEAT_BYTES));
        m_axis_req_tuser = hdr_q;
    end

    // ---------------------------------------------------------------- completion record
    always_comb begin
        logic ok;
        ok                = !too_long_q;
        m_rec             = '0;
        m_rec.cookie      = d0_q.cookie;
        m_rec.frame_len   = len_q;
        m_rec.hdr_len     = (ok && split_q) ? h_q : 16'd0;
        m_rec.payload_len = !ok ? 16'd0 : split_q ? len_q - h_q : len_q;
        m_rec.desc_count  = 8'(ndesc_q);
        m_rec.group_count = groups_q;
        m_rec.status      = ok ? 8'(CPL_STATUS_OK) : 8'(CPL_STATUS_TOO_LONG_FOR_GROUP);
        m_rec.l3_type     = 8'(meta_q.l3_type);
        m_rec.l4_type     = 8'(meta_q.l4_type);
        m_rec.vlan_tci    = meta_q.vlan ? meta_q.vlan_tci : 16'd0;
        m_rec.flags       = 16'(meta_q.vlan ? CPL_FLAGS_VLAN : 0)
                          | 16'(meta_q.malformed ? CPL_FLAGS_MALFORMED : 0)
                          | 16'((ok && split_q) ? CPL_FLAGS_SPLIT : 0)
                          | 16'((ok && split_want_q && !split_q) ? CPL_FLAGS_HDR_OVERFLOW : 0);
        m_rec.csum        = csum_q.csum;
        m_rec.csum_status = {4'd0, csum_q.l4_csum, csum_q.ip4_csum};
        m_rec.rss_hash    = rss_hash_q;
        m_rec.rss_type    = 8'(rss_type_q);
        m_rec_valid       = (state_q == ST_CPL) && !abort_q;
        m_rec_q           = q_q;
    end

    // ---------------------------------------------------------------- cache port
    always_comb begin
        rd_q   = q_q;
        rd_off = DW'(k_q);
        if (state_q == ST_SEG) begin
            rd_off = DW'(sk_q);
        end else if (state_q == ST_DECIDE) begin
            rd_off = '0;
        end
    end

    // ---------------------------------------------------------------- main FSM
    logic [5:0]             pop_bytes;
    logic                   push;
    logic [3:0]             push_bytes;
    logic [8*ACC_BYTES-1:0] after_pop;
    logic [6:0]             fill_after_pop;
    logic [63:0]            push_data;
    logic                   acc_clear;
    logic [1:0]             pad;
    logic                   pad_shift;

    always_comb begin
        push_bytes = 4'd0;
        for (int i = 0; i < 8; i++) begin
            if (s_axis_frame_tkeep[i]) begin
                push_bytes = 4'(i + 1);
            end
        end
    end

    logic [37:0] cap;
    logic        eog, done, last;
    logic [31:0] room, seg;
    logic        drop_req, drop_has_q;   // drop the current frame for drop_reason
    logic [3:0]  drop_reason;

    always_comb begin
        cap          = '0;
        eog          = 1'b0;
        done         = 1'b0;
        last         = 1'b0;
        room         = '0;
        seg          = '0;
        drop_req     = 1'b0;
        drop_has_q   = 1'b0;
        drop_reason  = '0;
        state_d      = state_q;
        q_d          = q_q;
        len_d        = len_q;
        meta_d       = meta_q;
        csum_d       = csum_q;
        wait_d       = wait_q;
        k_d          = k_q;
        cap_d        = cap_q;
        first_grp_d  = first_grp_q;
        groups_d     = groups_q;
        ndesc_d      = ndesc_q;
        split_want_d = split_want_q;
        split_d      = split_q;
        h_d          = h_q;
        end_d        = end_q;
        too_long_d   = too_long_q;
        reason_d     = reason_q;
        qvalid_d     = qvalid_q;
        d0_d         = d0_q;
        abort_d      = abort_q;
        rss_hash_d   = rss_hash_q;
        rss_type_d   = rss_type_q;
        hdr_pend_d   = hdr_pend_q;
        sk_d         = sk_q;
        soff_d       = soff_q;
        rem_d        = rem_q;
        wr_addr_d    = wr_addr_q;
        wr_end_d     = wr_end_q;
        stream_rem_d = stream_rem_q;
        hdr_d        = hdr_q;
        in_done_d    = in_done_q;

        s_axis_frame_tready = 1'b0;
        steer_req_valid     = 1'b0;
        rss_res_ready       = 1'b0;
        steer_res_ready     = 1'b0;
        pop                 = 1'b0;
        pop_q               = q_q;
        pop_n               = ndesc_q;
        err_valid           = 1'b0;
        err_q               = q_q;
        err_code            = 8'd0;
        ev_delivered        = 1'b0;
        ev_bytes            = len_q;
        ev_drop             = 1'b0;
        ev_drop_reason      = reason_q;
        ev_queue_valid      = qvalid_q;
        ev_queue            = q_q;
        pop_bytes           = 6'd0;
        push                = 1'b0;
        acc_clear           = 1'b0;
        pad                 = 2'd0;
        pad_shift           = 1'b0;

        if (state_q != ST_IDLE && state_q != ST_STEER && q_reset[q_q]) begin
            abort_d = 1'b1;
        end

        unique case (state_q)
            ST_IDLE: begin
                len_d      = s_axis_frame_tuser;
                meta_d     = meta_in;
                in_done_d  = 1'b0;
                abort_d    = 1'b0;
                wait_d     = '0;
                rss_hash_d = rss_res_hash;
                rss_type_d = rss_res_type;
                // the RSS result of this frame goes with its steering request
                steer_req_valid = s_axis_frame_tvalid && rss_res_valid;
                if (s_axis_frame_tvalid && rss_res_valid && steer_req_ready) begin
                    rss_res_ready = 1'b1;
                    state_d       = ST_STEER;
                end
            end
            ST_STEER: begin
                steer_res_ready = 1'b1;
                if (steer_res_valid) begin
                    q_d = QW'(steer_res_queue);
                    if (steer_res_drop) begin
                        begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_FILTERED); drop_has_q = 1'b0; end
                    end else if (32'(steer_res_queue) >= NQ) begin
                        begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_DISABLED); drop_has_q = 1'b0; end
                    end else begin
                        qvalid_d = 1'b1;
                        state_d  = ST_DECIDE;
                    end
                end
            end
            ST_DECIDE: begin
                // split decision needs the first descriptor (rd_off = 0)
                split_want_d = q_mode[q_q] != 2'(PLACEMENT_MODE_FULL);
                split_d      = split_want_d && lvl_ok && !meta_q.hdr_overflow
                            && lvl_end != 16'd0 && lvl_end <= len_q
                            && rd_desc.hdr_addr != 64'd0 && lvl_end <= rd_desc.hdr_len;
                h_d          = lvl_end;
                end_d        = 17'(q_data_offset[q_q]) + 17'(len_q)
                             - ((split_d && q_mode[q_q] == 2'(PLACEMENT_MODE_SPLIT))
                                ? 17'(lvl_end) : 17'd0);
                d0_d         = rd_desc;
                k_d          = '0;
                cap_d        = '0;
                first_grp_d  = '0;
                groups_d     = '0;
                if (!q_enable[q_q] || abort_q) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_DISABLED); drop_has_q = 1'b1; end
                end else if (q_error[q_q]) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_ERROR); drop_has_q = 1'b1; end
                end else if (posted == 16'd0) begin
                    if (q_drop_when_empty[q_q]) begin
                        begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_NO_BUFFER); drop_has_q = 1'b1; end
                    end
                end else if (cpl_full) begin
                    begin err_valid = 1'b1; err_code = 8'(QUEUE_ERROR_CPL_FULL); end
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_ERROR); drop_has_q = 1'b1; end
                end else if (rd_valid) begin
                    state_d = ST_PLAN;
                end else begin
                    wait_d = wait_q + 16'd1;
                    if (wait_q >= cfg_desc_wait) begin
                        begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_NO_BUFFER); drop_has_q = 1'b1; end
                    end
                end
            end
            ST_PLAN: begin
                if (abort_q || !q_enable[q_q]) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_DISABLED); drop_has_q = 1'b1; end
                end else if (q_error[q_q]) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_ERROR); drop_has_q = 1'b1; end
                end else if (!rd_valid) begin
                    wait_d = wait_q + 16'd1;
                    if (wait_q >= cfg_desc_wait) begin
                        begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_NO_BUFFER); drop_has_q = 1'b1; end
                    end
                end else begin
                    cap  = cap_q + 38'(rd_desc.data_len);
                    eog  = rd_desc.flags[0];
                    last = (k_q == (DW+1)'(DEPTH - 1));
                    done = 1'b0;
                    cap_d = cap;
                    k_d   = k_q + 1'b1;
                    if (eog) begin
                        groups_d = groups_q + 8'd1;
                        if (first_grp_q == '0) begin
                            first_grp_d = k_q + 1'b1;
                        end
                    end
                    if (eog && (!q_mergeable[q_q] || cap >= 38'(end_q))) begin
                        done       = 1'b1;
                        ndesc_d    = k_q + 1'b1;
                        too_long_d = cap < 38'(end_q);
                        if (!q_mergeable[q_q]) begin
                            groups_d = 8'd1;
                        end
                    end else if (last) begin
                        done = 1'b1;
                        if (first_grp_q == '0 && !eog) begin
                            begin err_valid = 1'b1; err_code = 8'(QUEUE_ERROR_BAD_GROUP); end
                            begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_ERROR); drop_has_q = 1'b1; end
                        end else begin
                            // mergeable and 32 descriptors are not enough: the first group
                            // is returned
                            too_long_d = 1'b1;
                            ndesc_d    = (first_grp_q == '0) ? k_q + 1'b1 : first_grp_q;
                            groups_d   = 8'd1;
                        end
                    end
                    if (done && !drop_req) begin
                        if (too_long_d) begin
                            reason_d  = 4'(DROP_REASON_TOO_LONG_FOR_GROUP);
                            qvalid_d  = 1'b1;
                            acc_clear = 1'b1;
                            state_d   = ST_DRAIN;
                        end else begin
                            hdr_pend_d = split_q;
                            sk_d       = '0;
                            soff_d     = 32'(q_data_offset[q_q])
                                       + ((split_q && q_mode[q_q] == 2'(PLACEMENT_MODE_SPLIT_HOLE))
                                          ? 32'(h_q) : 32'd0);
                            rem_d      = split_q ? len_q - h_q : len_q;
                            state_d    = ST_SEG;
                        end
                    end
                end
            end
            ST_SEG: begin
                if (abort_q) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_DISABLED); drop_has_q = 1'b1; end
                end else if (hdr_pend_q) begin
                    hdr_pend_d = 1'b0;
                    wr_addr_d  = d0_q.hdr_addr;
                    wr_end_d   = d0_q.hdr_addr + 64'(h_q);
                    pad        = d0_q.hdr_addr[1:0];
                    pad_shift  = 1'b1;
                    state_d    = ST_WR_HDR;
                end else if (rem_q == 16'd0) begin
                    state_d = ST_CPL;
                end else if (soff_q >= rd_desc.data_len) begin
                    // this buffer ends before the stream position: the next one
                    soff_d = soff_q - rd_desc.data_len;
                    sk_d   = sk_q + 1'b1;
                end else begin
                    room      = rd_desc.data_len - soff_q;
                    seg       = (32'(rem_q) < room) ? 32'(rem_q) : room;
                    wr_addr_d = rd_desc.data_addr + 64'(soff_q);
                    wr_end_d  = rd_desc.data_addr + 64'(soff_q) + 64'(seg);
                    pad       = wr_addr_d[1:0];
                    pad_shift = 1'b1;
                    soff_d    = soff_q + seg;
                    rem_d     = rem_q - 16'(seg);
                    state_d   = ST_WR_HDR;
                end
            end
            ST_WR_HDR: begin
                hdr_d          = '0;
                hdr_d.kind     = REQ_MEM_WR;
                hdr_d.addr     = wr_addr_q;
                hdr_d.dw_count = tlp_dw;
                if (tlp_dw == 11'd1) begin
                    hdr_d.first_be = first_be_of(wr_addr_q[1:0]) & last_be_of(tlp_end[1:0]);
                    hdr_d.last_be  = 4'h0;
                end else begin
                    hdr_d.first_be = first_be_of(wr_addr_q[1:0]);
                    hdr_d.last_be  = last_be_of(tlp_end[1:0]);
                end
                stream_rem_d = tlp_stream_bytes;
                state_d      = ST_WR_DATA;
            end
            ST_WR_DATA: begin
                if (m_axis_req_tvalid && m_axis_req_tready) begin
                    pop_bytes    = 6'(need);
                    stream_rem_d = stream_rem_q - need;
                    if (m_axis_req_tlast) begin
                        wr_addr_d = tlp_end;
                        if (tlp_end != wr_end_q) begin
                            state_d = ST_WR_HDR;
                        end else if (rem_q == 16'd0 && !hdr_pend_q && !abort_q) begin
                            state_d = ST_CPL;
                        end else begin
                            state_d = ST_SEG;
                        end
                    end
                end
            end
            ST_CPL: begin
                if (abort_q) begin
                    begin drop_req = 1'b1; drop_reason = 4'(DROP_REASON_QUEUE_DISABLED); drop_has_q = 1'b1; end
                end else if (m_rec_ready) begin
                    pop = 1'b1;
                    if (too_long_q) begin
                        ev_drop = 1'b1;
                    end else begin
                        ev_delivered = 1'b1;
                    end
                    state_d = ST_IDLE;
                end
            end
            ST_DRAIN: begin
                acc_clear = 1'b1;
                s_axis_frame_tready = !in_done_q;
                if (in_done_q || (s_axis_frame_tvalid && s_axis_frame_tlast)) begin
                    in_done_d = 1'b1;
                    if (too_long_q) begin
                        state_d = ST_CPL;
                    end else begin
                        ev_drop = 1'b1;
                        state_d = ST_IDLE;
                    end
                end
            end
            default: state_d = ST_IDLE;
        endcase

        if (drop_req) begin
            reason_d   = drop_reason;
            qvalid_d   = drop_has_q;
            too_long_d = 1'b0;
            acc_clear  = 1'b1;
            state_d    = ST_DRAIN;
        end

        // Accumulator: pop what was sent, take a frame beat if it fits (not while a segment
        // start shifts it, not in IDLE/DRAIN), shift by a new segment's pad.
        after_pop      = acc_q >> {pop_bytes, 3'b000};
        fill_after_pop = fill_q - 7'(pop_bytes);
        if (state_q != ST_IDLE && state_q != ST_DRAIN && state_q != ST_SEG
            && state_q != ST_CPL && !in_done_q && fill_after_pop <= 7'(PUSH_LIMIT)) begin
            s_axis_frame_tready = 1'b1;
            push = s_axis_frame_tvalid;
        end
        push_data = '0;
        for (int i = 0; i < 8; i++) begin
            push_data[8*i +: 8] = s_axis_frame_tkeep[i] ? s_axis_frame_tdata[8*i +: 8] : 8'd0;
        end
        acc_d  = after_pop;
        fill_d = fill_after_pop;
        if (push) begin
            acc_d  = after_pop | ({{(8*ACC_BYTES-64){1'b0}}, push_data} << {fill_after_pop, 3'b000});
            fill_d = fill_after_pop + 7'(push_bytes);
            if (s_axis_frame_tlast) begin
                in_done_d = 1'b1;
            end
        end
        if (pad_shift) begin
            acc_d  = acc_q << {pad, 3'b000};
            fill_d = fill_q + 7'(pad);
        end
        if (acc_clear || state_q == ST_IDLE) begin
            acc_d  = '0;
            fill_d = '0;
        end

        // the checksum record is valid with the frame's last beat, whichever state takes it
        if (s_axis_frame_tvalid && s_axis_frame_tready && s_axis_frame_tlast) begin
            csum_d = meta_csum_t'(s_meta_csum);
        end
    end

    // Steering request from the frame's first beat, still waiting at the input; destination
    // MAC byte k is lane k of the first beat.
    always_comb begin
        for (int k = 0; k < 6; k++) begin
            steer_req_mac[47 - 8*k -: 8] = s_axis_frame_tdata[8*k +: 8];
        end
        steer_req_vlan_present = meta_in.vlan;
        steer_req_vlan_id      = meta_in.vlan_tci[11:0];
        steer_req_rss_queue    = rss_res_queue;
    end

    // RSS request, once per frame, as soon as its first beat waits at the input: in IDLE, or
    // once the frame being placed has taken its last beat. Done until the steering request
    // takes the result.
    assign rss_req_valid = s_axis_frame_tvalid && (state_q == ST_IDLE || in_done_q)
                        && !rss_asked_q;
    assign rss_req_tuple = s_meta_tuple;

    always_comb begin
        rss_asked_d = rss_asked_q;
        if (rss_req_valid && rss_req_ready) begin
            rss_asked_d = 1'b1;
        end
        if (rss_res_ready) begin
            rss_asked_d = 1'b0;
        end
    end

    assign busy   = state_q != ST_IDLE && state_q != ST_STEER;
    assign busy_q = q_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q     <= ST_IDLE;
            fill_q      <= '0;
            in_done_q   <= 1'b0;
            abort_q     <= 1'b0;
            rss_asked_q <= 1'b0;
        end else begin
            state_q     <= state_d;
            fill_q      <= fill_d;
            in_done_q   <= in_done_d;
            abort_q     <= abort_d;
            rss_asked_q <= rss_asked_d;
        end
        q_q          <= q_d;
        len_q        <= len_d;
        meta_q       <= meta_d;
        csum_q       <= csum_d;
        wait_q       <= wait_d;
        k_q          <= k_d;
        cap_q        <= cap_d;
        first_grp_q  <= first_grp_d;
        groups_q     <= groups_d;
        ndesc_q      <= ndesc_d;
        split_want_q <= split_want_d;
        split_q      <= split_d;
        h_q          <= h_d;
        end_q        <= end_d;
        too_long_q   <= too_long_d;
        reason_q     <= reason_d;
        qvalid_q     <= qvalid_d;
        d0_q         <= d0_d;
        rss_hash_q   <= rss_hash_d;
        rss_type_q   <= rss_type_d;
        hdr_pend_q   <= hdr_pend_d;
        sk_q         <= sk_d;
        soff_q       <= soff_d;
        rem_q        <= rem_d;
        wr_addr_q    <= wr_addr_d;
        wr_end_q     <= wr_end_d;
        stream_rem_q <= stream_rem_d;
        hdr_q        <= hdr_d;
        acc_q        <= acc_d;
    end

    logic unused;
    assign unused = ^{meta_q.l2_end, meta_q.l3_ok, meta_q.fragment, meta_q.l2_ok,
                      d0_q.data_addr, d0_q.data_len, d0_q.flags, d0_q.hdr_len, wr_end_d[1:0]};

endmodule

`resetall

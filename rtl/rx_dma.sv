// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// RX DMA engine, one queue (the thin path): for each frame, ask the steering table where it
// goes (filtered -> dropped; a queue other than 0 -> dropped as queue_disabled), read the
// descriptor at the ring head, write the frame at data_offset of its data buffer (TLPs split at Max Payload
// Size, which also keeps them inside 4 KiB pages), then write a completion record with the
// phase bit. Frames are dropped and counted when the queue is disabled or in error, or has no
// posted descriptor (head == tail). A frame longer than its buffer is dropped as
// too_long_for_group and still completed, with that status, so the host recycles the buffer.
//
// The completion carries the parser's verdicts: L3/L4 types, IPv4 header and L4 checksum
// status, the CHECKSUM_COMPLETE sum, the outermost VLAN TCI (flag VLAN) and MALFORMED when
// the L3 header is inconsistent with the frame.
//
// Limits of this version (the multi-queue engine replaces it): one descriptor per group --
// a descriptor without EOG puts the queue in error; one descriptor read in flight; FULL
// placement only; one interrupt per completion (no moderation yet).
module rx_dma #(
    // PCIe request/completion stream width in bits
    parameter int AXIS_W = 256,
    // Cycles to wait for a descriptor read completion before the queue goes to error
    parameter int CPL_TIMEOUT_CYCLES = 65536
) (
    input  wire                  clk,
    input  wire                  rst,

    // Frames from the packet FIFO (tuser: frame length in bytes, on every beat)
    input  wire [63:0]           s_axis_frame_tdata,
    input  wire [7:0]            s_axis_frame_tkeep,
    input  wire                  s_axis_frame_tvalid,
    output logic                 s_axis_frame_tready,
    input  wire                  s_axis_frame_tlast,
    input  wire [15:0]           s_axis_frame_tuser,
    // Parser metadata: header record with every beat, checksum record with tlast
    input  wire [splitrx_meta_pkg::META_HDR_W-1:0]  s_meta_hdr,
    input  wire [splitrx_meta_pkg::META_CSUM_W-1:0] s_meta_csum,

    // Requests to the PCIe adapter
    output logic [AXIS_W-1:0]    m_axis_req_tdata,
    output logic [AXIS_W/32-1:0] m_axis_req_tkeep,
    output logic                 m_axis_req_tvalid,
    input  wire                  m_axis_req_tready,
    output logic                 m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser,

    // Completions from the PCIe adapter
    input  wire [AXIS_W-1:0]     s_axis_cpl_tdata,
    input  wire [AXIS_W/32-1:0]  s_axis_cpl_tkeep,
    input  wire                  s_axis_cpl_tvalid,
    output logic                 s_axis_cpl_tready,
    input  wire                  s_axis_cpl_tlast,
    input  wire [splitrx_pcie_pkg::CPL_HDR_W-1:0] s_axis_cpl_tuser,

    // Queue configuration (registers)
    input  wire                  q_enable,
    input  wire [63:0]           q_desc_base,
    input  wire [4:0]            q_desc_size_log2,
    input  wire [15:0]           q_desc_tail,
    input  wire [11:0]           q_data_offset,
    input  wire [63:0]           q_cpl_base,
    input  wire [4:0]            q_cpl_size_log2,
    input  wire [15:0]           q_cpl_head,
    input  wire                  q_reset,          // pulse: clear pointers and error
    input  wire [2:0]            cfg_max_payload,  // MPS = 128 << value bytes
    input  wire                  q_irq_enable,
    input  wire [5:0]            q_irq_vector,

    // Steering lookup (rx_steer) for each frame, before anything else is decided
    output logic                 steer_req_valid,
    input  wire                  steer_req_ready,
    output logic [47:0]          steer_req_mac,          // [47:40] = first byte on the wire
    output logic                 steer_req_vlan_present,
    output logic [11:0]          steer_req_vlan_id,
    input  wire                  steer_res_valid,
    output logic                 steer_res_ready,
    input  wire                  steer_res_drop,         // filtered
    input  wire [5:0]            steer_res_queue,

    // Interrupt request to the MSI-X block, raised after a completion record has been
    // accepted on the request stream (so the message follows the record it announces)
    output logic                 irq_valid,
    input  wire                  irq_ready,
    output logic [5:0]           irq_vector,

    // Queue status
    output logic [15:0]          q_desc_head,
    output logic [15:0]          q_cpl_tail,
    output logic                 q_error,
    output logic [7:0]           q_error_code,

    // Events for the counters: one pulse per frame
    output logic                 ev_delivered,
    output logic [15:0]          ev_delivered_bytes,
    output logic                 ev_drop,
    output logic [3:0]           ev_drop_reason
);

    import splitrx_pcie_pkg::*;
    import splitrx_records_pkg::*;
    import splitrx_meta_pkg::*;

    if (AXIS_W != 256) begin : gen_check_width
        $fatal(0, "rx_dma: only AXIS_W = 256 is implemented (instance %m)");
    end

    // Error codes reported in q_error_code (docs/registers.md, RXQ STATUS)
    localparam logic [7:0] ERR_NONE         = 8'd0;
    localparam logic [7:0] ERR_DESC_READ    = 8'd1;  // descriptor read answered UR/CA
    localparam logic [7:0] ERR_DESC_TIMEOUT = 8'd2;  // descriptor read never answered
    localparam logic [7:0] ERR_CPL_FULL     = 8'd3;  // completion ring full (host bug)
    localparam logic [7:0] ERR_NO_EOG       = 8'd4;  // descriptor chains not supported yet
    localparam logic [7:0] ERR_BAD_CONFIG   = 8'd5;  // unaligned ring base or bad ring size

    localparam int DESC_BYTES = RX_DESC_BYTES;
    localparam int CPL_BYTES = RX_CPL_BYTES;
    localparam int BEAT_BYTES = AXIS_W / 8;
    localparam int ACC_BYTES = 2 * BEAT_BYTES;

    typedef enum logic [3:0] {
        ST_IDLE,       // waiting for a frame
        ST_STEER_REQ,  // asking rx_steer where the frame goes
        ST_STEER_WAIT, // its answer
        ST_DROP,       // discarding a frame
        ST_DESC_REQ,   // issuing the descriptor read
        ST_DESC_WAIT,  // waiting for its completion
        ST_TOO_LONG,   // discarding a frame that does not fit, completion follows
        ST_WR_HDR,     // computing the next data TLP
        ST_WR_DATA,    // sending its payload
        ST_CPL         // writing the completion record
    } state_e;

    state_e state_q, state_d;

    logic [15:0] desc_head_q, desc_head_d;
    logic [15:0] cpl_tail_q, cpl_tail_d;
    logic        error_q, error_d;
    logic [7:0]  error_code_q, error_code_d;
    logic [3:0]  drop_reason_q, drop_reason_d;
    logic [31:0] timer_q, timer_d;
    logic        irq_pend_q, irq_pend_d;   // a completion written since the last message

    // Frame in progress (datapath: no reset)
    rx_desc_t    desc_q, desc_d;
    logic [15:0] frame_len_q, frame_len_d;
    logic [63:0] wr_addr_q, wr_addr_d;       // next byte address to write
    logic [63:0] wr_end_q, wr_end_d;         // one past the last byte
    logic [12:0] stream_rem_q, stream_rem_d; // payload bytes left in the current TLP
    req_hdr_t    hdr_q, hdr_d;
    logic [7:0]  cpl_status_q, cpl_status_d;
    meta_hdr_t   meta_hdr_q, meta_hdr_d;
    meta_csum_t  meta_csum_q, meta_csum_d;

    // Byte accumulator: frame bytes in, TLP payload beats out. Byte k of acc_q is the next
    // payload byte; bytes at and above fill_q are zero.
    logic [8*ACC_BYTES-1:0] acc_q, acc_d;
    logic [6:0]             fill_q, fill_d;
    logic                   frame_in_done_q, frame_in_done_d;

    wire [15:0] desc_mask = 16'((17'd1 << q_desc_size_log2) - 17'd1);
    wire [15:0] cpl_mask  = 16'((17'd1 << q_cpl_size_log2) - 17'd1);
    wire [16:0] cpl_used  = {1'b0, cpl_tail_q - q_cpl_head};
    wire        cpl_full  = cpl_used >= (17'd1 << q_cpl_size_log2);
    wire [12:0] mps_bytes = 13'd128 << cfg_max_payload;
    // Rings must be record-aligned, at most 32768 entries, completion ring >= descriptor ring
    wire        cfg_bad   = q_desc_base[4:0] != 5'd0 || q_cpl_base[4:0] != 5'd0
                         || q_desc_size_log2 > 5'd15 || q_cpl_size_log2 > 5'd15
                         || q_cpl_size_log2 < q_desc_size_log2;

    // Descriptor as read: the whole record is the first completion beat.
    rx_desc_t cpl_desc;
    assign cpl_desc = rx_desc_t'(s_axis_cpl_tdata[8*DESC_BYTES-1:0]);
    cpl_hdr_t cpl_hdr;
    assign cpl_hdr = cpl_hdr_t'(s_axis_cpl_tuser);

    // Next data TLP: from wr_addr_q up to the next MPS boundary or the end of the frame.
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

    // Completion record for the current frame; the phase is 1 on the first lap of the ring
    wire [15:0] cpl_lap = cpl_tail_q >> q_cpl_size_log2;
    rx_cpl_t cpl_rec;
    always_comb begin
        cpl_rec             = '0;
        cpl_rec.cookie      = desc_q.cookie;
        cpl_rec.frame_len   = frame_len_q;
        cpl_rec.payload_len = (cpl_status_q == 8'(CPL_STATUS_OK)) ? frame_len_q : 16'd0;
        cpl_rec.desc_count  = 8'd1;
        cpl_rec.group_count = 8'd1;
        cpl_rec.status      = cpl_status_q;
        cpl_rec.l3_type     = 8'(meta_hdr_q.l3_type);
        cpl_rec.l4_type     = 8'(meta_hdr_q.l4_type);
        cpl_rec.vlan_tci    = meta_hdr_q.vlan ? meta_hdr_q.vlan_tci : 16'd0;
        cpl_rec.flags       = 16'(meta_hdr_q.vlan ? CPL_FLAGS_VLAN : 0)
                            | 16'((meta_hdr_q.l3_type == 2'(L3_TYPE_MALFORMED)) ? CPL_FLAGS_MALFORMED : 0);
        cpl_rec.csum        = meta_csum_q.csum;
        cpl_rec.csum_status = {4'd0, meta_csum_q.l4_csum, meta_csum_q.ip4_csum};
        cpl_rec.phase       = {7'd0, ~cpl_lap[0]};
    end

    // Accumulator control, shared by all states
    logic [5:0] pop_bytes;
    logic       push;
    logic [3:0] push_bytes;
    always_comb begin
        push_bytes = 4'd0;
        for (int i = 0; i < 8; i++) begin
            if (s_axis_frame_tkeep[i]) begin
                push_bytes = 4'(i + 1);
            end
        end
    end

    // Payload bytes of the current data beat
    wire [12:0] need = (stream_rem_q > 13'(BEAT_BYTES)) ? 13'(BEAT_BYTES) : stream_rem_q;

    // Request outputs depend on registered state only (never on tready), so the
    // valid/ready handshake through the arbiter and adapter has no combinational loop.
    always_comb begin
        req_hdr_t h;
        m_axis_req_tdata  = '0;
        m_axis_req_tkeep  = '0;
        m_axis_req_tvalid = 1'b0;
        m_axis_req_tlast  = 1'b0;
        h                 = hdr_q;
        unique case (state_q)
            ST_DESC_REQ: begin
                h                 = '0;
                h.kind            = REQ_MEM_RD;
                h.addr            = q_desc_base + 64'({desc_head_q & desc_mask, 5'd0});
                h.dw_count        = 11'(DESC_BYTES / 4);
                h.first_be        = 4'hf;
                h.last_be         = 4'hf;
                m_axis_req_tvalid = 1'b1;
                m_axis_req_tlast  = 1'b1;
            end
            ST_WR_DATA: begin
                m_axis_req_tvalid = (13'(fill_q) >= need);
                m_axis_req_tdata  = acc_q[AXIS_W-1:0];
                for (int i = 0; i < AXIS_W / 32; i++) begin
                    m_axis_req_tkeep[i] = (13'(4 * i) < need);
                end
                m_axis_req_tlast = (stream_rem_q <= 13'(BEAT_BYTES));
            end
            ST_CPL: begin
                h                 = '0;
                h.kind            = REQ_MEM_WR;
                h.addr            = q_cpl_base + 64'({cpl_tail_q & cpl_mask, 5'd0});
                h.dw_count        = 11'(CPL_BYTES / 4);
                h.first_be        = 4'hf;
                h.last_be         = 4'hf;
                m_axis_req_tvalid = 1'b1;
                m_axis_req_tlast  = 1'b1;
                m_axis_req_tdata  = AXIS_W'(cpl_rec);
                m_axis_req_tkeep  = '1;
            end
            default: ;
        endcase
        m_axis_req_tuser = h;
    end

    logic [8*ACC_BYTES-1:0] after_pop;
    logic [6:0]             fill_after_pop;
    logic [63:0]            push_data;

    always_comb begin
        state_d         = state_q;
        desc_head_d     = desc_head_q;
        cpl_tail_d      = cpl_tail_q;
        error_d         = error_q;
        error_code_d    = error_code_q;
        drop_reason_d   = drop_reason_q;
        timer_d         = timer_q;
        desc_d          = desc_q;
        frame_len_d     = frame_len_q;
        wr_addr_d       = wr_addr_q;
        wr_end_d        = wr_end_q;
        stream_rem_d    = stream_rem_q;
        hdr_d           = hdr_q;
        cpl_status_d    = cpl_status_q;
        frame_in_done_d = frame_in_done_q;
        meta_hdr_d      = meta_hdr_q;
        meta_csum_d     = meta_csum_q;
        irq_pend_d      = irq_pend_q;
        if (irq_valid && irq_ready) begin
            irq_pend_d = 1'b0;
        end

        s_axis_frame_tready = 1'b0;
        s_axis_cpl_tready   = 1'b1;   // completions are never held up
        ev_delivered        = 1'b0;
        ev_delivered_bytes  = frame_len_q;
        ev_drop             = 1'b0;
        ev_drop_reason      = drop_reason_q;
        pop_bytes           = 6'd0;
        push                = 1'b0;

        unique case (state_q)
            ST_IDLE: begin
                frame_len_d     = s_axis_frame_tuser;
                meta_hdr_d      = meta_hdr_t'(s_meta_hdr);
                frame_in_done_d = 1'b0;
                if (s_axis_frame_tvalid) begin
                    state_d = ST_STEER_REQ;
                end
            end
            ST_STEER_REQ: begin
                if (steer_req_ready) begin
                    state_d = ST_STEER_WAIT;
                end
            end
            ST_STEER_WAIT: begin
                if (steer_res_valid) begin
                    if (steer_res_drop) begin
                        drop_reason_d = 4'(DROP_REASON_FILTERED);
                        state_d       = ST_DROP;
                    end else if (steer_res_queue != 6'd0 || !q_enable) begin
                        // queue 0 is the only queue this engine has
                        drop_reason_d = 4'(DROP_REASON_QUEUE_DISABLED);
                        state_d       = ST_DROP;
                    end else if (error_q) begin
                        drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                        state_d       = ST_DROP;
                    end else if (cfg_bad) begin
                        error_d       = 1'b1;
                        error_code_d  = ERR_BAD_CONFIG;
                        drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                        state_d       = ST_DROP;
                    end else if (desc_head_q == q_desc_tail) begin
                        // no descriptor: dropped without a completion, so a full
                        // completion ring does not matter here
                        drop_reason_d = 4'(DROP_REASON_NO_BUFFER);
                        state_d       = ST_DROP;
                    end else if (cpl_full) begin
                        error_d       = 1'b1;
                        error_code_d  = ERR_CPL_FULL;
                        drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                        state_d       = ST_DROP;
                    end else begin
                        state_d = ST_DESC_REQ;
                    end
                end
            end
            ST_DROP: begin
                s_axis_frame_tready = 1'b1;
                if (s_axis_frame_tvalid && s_axis_frame_tlast) begin
                    ev_drop = 1'b1;
                    state_d = ST_IDLE;
                end
            end
            ST_DESC_REQ: begin
                timer_d = '0;
                if (m_axis_req_tready) begin
                    state_d = ST_DESC_WAIT;
                end
            end
            ST_DESC_WAIT: begin
                timer_d = timer_q + 32'd1;
                if (s_axis_cpl_tvalid) begin
                    // one completion, one beat: a 32-byte aligned read never crosses an RCB
                    if (cpl_hdr.status != CPL_SC || cpl_hdr.error_code != 4'd0) begin
                        error_d       = 1'b1;
                        error_code_d  = ERR_DESC_READ;
                        drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                        state_d       = ST_DROP;
                    end else if (!(cpl_desc.flags[0])) begin
                        error_d       = 1'b1;
                        error_code_d  = ERR_NO_EOG;
                        drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                        state_d       = ST_DROP;
                    end else begin
                        desc_d      = cpl_desc;
                        desc_head_d = desc_head_q + 16'd1;
                        wr_addr_d   = cpl_desc.data_addr + 64'(q_data_offset);
                        wr_end_d    = cpl_desc.data_addr + 64'(q_data_offset) + 64'(frame_len_q);
                        if (32'(q_data_offset) + 32'(frame_len_q) > cpl_desc.data_len) begin
                            cpl_status_d  = 8'(CPL_STATUS_TOO_LONG_FOR_GROUP);
                            drop_reason_d = 4'(DROP_REASON_TOO_LONG_FOR_GROUP);
                            state_d       = ST_TOO_LONG;
                        end else begin
                            cpl_status_d = 8'(CPL_STATUS_OK);
                            state_d      = ST_WR_HDR;
                        end
                    end
                end else if (timer_q >= 32'(CPL_TIMEOUT_CYCLES)) begin
                    error_d       = 1'b1;
                    error_code_d  = ERR_DESC_TIMEOUT;
                    drop_reason_d = 4'(DROP_REASON_QUEUE_ERROR);
                    state_d       = ST_DROP;
                end
            end
            ST_TOO_LONG: begin
                s_axis_frame_tready = 1'b1;
                if (s_axis_frame_tvalid && s_axis_frame_tlast) begin
                    ev_drop = 1'b1;
                    state_d = ST_CPL;
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
                        state_d   = (tlp_end == wr_end_q) ? ST_CPL : ST_WR_HDR;
                    end
                end
            end
            ST_CPL: begin
                if (m_axis_req_tready) begin
                    cpl_tail_d = cpl_tail_q + 16'd1;
                    irq_pend_d = q_irq_enable;
                    ev_delivered = (cpl_status_q == 8'(CPL_STATUS_OK));
                    state_d = ST_IDLE;
                end
            end
            default: state_d = ST_IDLE;
        endcase

        // Accumulator: pop what was sent, then take a frame beat if it fits. Only while a
        // frame is being written (the first TLP's leading pad bytes are set on entry).
        after_pop      = acc_q >> {pop_bytes, 3'b000};
        fill_after_pop = fill_q - 7'(pop_bytes);
        if ((state_q == ST_WR_HDR || state_q == ST_WR_DATA) && !frame_in_done_q
            && fill_after_pop <= 7'(ACC_BYTES - 8)) begin
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
                frame_in_done_d = 1'b1;
            end
        end
        if (state_q == ST_DESC_WAIT) begin
            // the first TLP's payload starts at the dword holding the first byte
            acc_d  = '0;
            fill_d = 7'(wr_addr_d[1:0]);
        end

        // the checksum record is valid with the frame's last beat, whichever state takes it
        if (s_axis_frame_tvalid && s_axis_frame_tready && s_axis_frame_tlast) begin
            meta_csum_d = meta_csum_t'(s_meta_csum);
        end

        if (q_reset) begin
            desc_head_d  = '0;
            cpl_tail_d   = '0;
            error_d      = 1'b0;
            error_code_d = ERR_NONE;
        end
    end

    // Steering request from the frame's first beat (still waiting at the input) and its
    // header record; destination MAC byte k is lane k of the first beat.
    always_comb begin
        steer_req_valid = (state_q == ST_STEER_REQ);
        for (int k = 0; k < 6; k++) begin
            steer_req_mac[47 - 8*k -: 8] = s_axis_frame_tdata[8*k +: 8];
        end
        steer_req_vlan_present = meta_hdr_q.vlan;
        steer_req_vlan_id      = meta_hdr_q.vlan_tci[11:0];
        steer_res_ready        = (state_q == ST_STEER_WAIT);
    end

    assign irq_valid    = irq_pend_q;
    assign irq_vector   = q_irq_vector;

    assign q_desc_head  = desc_head_q;
    assign q_cpl_tail   = cpl_tail_q;
    assign q_error      = error_q;
    assign q_error_code = error_code_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            state_q      <= ST_IDLE;
            desc_head_q  <= '0;
            cpl_tail_q   <= '0;
            error_q      <= 1'b0;
            error_code_q <= ERR_NONE;
            fill_q       <= '0;
            irq_pend_q   <= 1'b0;
        end else begin
            state_q      <= state_d;
            desc_head_q  <= desc_head_d;
            cpl_tail_q   <= cpl_tail_d;
            error_q      <= error_d;
            error_code_q <= error_code_d;
            fill_q       <= fill_d;
            irq_pend_q   <= irq_pend_d;
        end
        drop_reason_q   <= drop_reason_d;
        timer_q         <= timer_d;
        desc_q          <= desc_d;
        frame_len_q     <= frame_len_d;
        wr_addr_q       <= wr_addr_d;
        wr_end_q        <= wr_end_d;
        stream_rem_q    <= stream_rem_d;
        hdr_q           <= hdr_d;
        cpl_status_q    <= cpl_status_d;
        meta_hdr_q      <= meta_hdr_d;
        meta_csum_q     <= meta_csum_d;
        acc_q           <= acc_d;
        frame_in_done_q <= frame_in_done_d;
    end

    // Completion payload beyond the descriptor and most completion header fields are unused:
    // descriptor reads are single-beat, single-completion.
    logic unused;
    assign unused = ^{s_axis_cpl_tkeep,
                      s_axis_cpl_tlast, cpl_hdr.tag, cpl_hdr.byte_count, cpl_hdr.lower_addr,
                      cpl_hdr.dw_count, cpl_hdr.request_completed, desc_q.hdr_addr,
                      desc_q.hdr_len, desc_q.data_addr, desc_q.data_len, desc_q.flags,
                      meta_hdr_q.l2_end, meta_hdr_q.l3_end, meta_hdr_q.l4_end, meta_hdr_q.l2_ok,
                      meta_hdr_q.l3_ok, meta_hdr_q.l4_ok, meta_hdr_q.fragment,
                      meta_hdr_q.hdr_overflow, meta_hdr_q.malformed,
                      q_desc_size_log2, wr_end_d[1:0], cpl_lap[15:1]};

endmodule

`resetall

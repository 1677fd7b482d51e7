// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Completion writer for NQ RX queues: coalesces completion records and moderates interrupts
// (docs/dma.md "Writes and the completion", "Interrupts").
//
// Records of one queue that follow each other in its ring collect in one buffer and leave as
// one posted write of up to MAX_RECS records: the buffer is written when it is full (MAX_RECS,
// Max Payload Size), when the next record cannot join it (another queue, the ring's end, a
// 4 KiB page), or cfg_flush clocks after its first record. The phase bit of each record is
// set here from its ring index.
//
// Interrupts: after a write is accepted on the request stream, its records count towards the
// queue's moderation (q_mod_pkts records, or q_mod_cycles clocks after the first); a due
// interrupt leaves on irq_* (round robin over queues), so the MSI-X message follows the
// records it announces. q_err_irq makes a queue's interrupt due at once.
module rx_cpl_wr #(
    // Number of RX queues
    parameter int NQ = 8,
    // Records per write, at most
    parameter int MAX_RECS = 8,
    // Request stream width in bits (one record per beat)
    parameter int AXIS_W = 256
) (
    input  wire                          clk,
    input  wire                          rst,

    // Records from the placement engine (phase ignored)
    input  wire                          s_rec_valid,
    output logic                         s_rec_ready,
    input  wire [$clog2(NQ)-1:0]         s_rec_q,
    input  wire splitrx_records_pkg::rx_cpl_t s_rec,

    // Queue configuration
    input  wire [NQ-1:0]                 q_reset,
    input  wire [NQ-1:0][63:0]           q_cpl_base,
    input  wire [NQ-1:0][4:0]            q_cpl_size_log2,
    input  wire [NQ-1:0]                 q_irq_enable,
    input  wire [NQ-1:0][5:0]            q_irq_vector,
    input  wire [NQ-1:0][7:0]            q_mod_pkts,
    input  wire [NQ-1:0][15:0]           q_mod_cycles,
    input  wire [NQ-1:0]                 q_err_irq,        // pulse: queue went to error
    input  wire [2:0]                    cfg_max_payload,  // MPS = 128 << value bytes
    input  wire [15:0]                   cfg_flush,

    // Per-queue state
    output logic [NQ-1:0][15:0]          q_accepted,       // records taken (free-running)
    output logic [NQ-1:0][15:0]          q_written,        // records in host memory (CPL_TAIL)
    output logic [NQ-1:0]                q_busy,           // records of the queue buffered

    // Writes
    output logic [AXIS_W-1:0]            m_axis_req_tdata,
    output logic [AXIS_W/32-1:0]         m_axis_req_tkeep,
    output logic                         m_axis_req_tvalid,
    input  wire                          m_axis_req_tready,
    output logic                         m_axis_req_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_req_tuser,

    // Interrupt requests to the MSI-X block
    output logic                         irq_valid,
    input  wire                          irq_ready,
    output logic [5:0]                   irq_vector
);

    import splitrx_pcie_pkg::*;
    import splitrx_records_pkg::*;

    localparam int QW = $clog2(NQ);
    localparam int RW = $clog2(MAX_RECS + 1);

    if (AXIS_W != 8 * RX_CPL_BYTES) begin : gen_check_width
        $fatal(0, "rx_cpl_wr: one record per beat needs AXIS_W = 256 (instance %m)");
    end

    // ---------------------------------------------------------------- buffer
    rx_cpl_t              buf_q [MAX_RECS];    // datapath: no reset
    logic [QW-1:0]        buf_queue_q;
    logic [15:0]          buf_idx_q;           // ring index of the first record
    logic [RW-1:0]        buf_n_q;
    logic [15:0]          buf_age_q;
    logic                 sending_q;
    logic [RW-1:0]        send_beat_q;

    logic [NQ-1:0][15:0]  acc_q, wr_q;

    // records per write: MAX_RECS and MPS
    wire [RW-1:0] max_n = ((32'd128 << cfg_max_payload) / RX_CPL_BYTES < MAX_RECS)
                        ? RW'((32'd128 << cfg_max_payload) / RX_CPL_BYTES) : RW'(MAX_RECS);

    function automatic logic [63:0] rec_addr(input logic [QW-1:0] q, input logic [15:0] idx);
        logic [15:0] mask;
        mask = 16'((17'd1 << q_cpl_size_log2[q]) - 17'd1);
        return q_cpl_base[q] + 64'({idx & mask, 5'd0});
    endfunction

    // The next record of the buffer's queue may join when it follows in memory.
    wire [15:0] next_idx  = buf_idx_q + 16'(buf_n_q);
    wire [15:0] next_slot = next_idx & 16'((17'd1 << q_cpl_size_log2[buf_queue_q]) - 17'd1);
    wire [11:0] next_addr = q_cpl_base[buf_queue_q][11:0] + {next_slot[6:0], 5'd0};
    wire        joinable  = buf_n_q != '0 && buf_n_q < max_n && s_rec_q == buf_queue_q
                         && next_slot != 16'd0
                         && next_addr != 12'd0;
    wire        take      = s_rec_valid && !sending_q && (buf_n_q == '0 || joinable);
    wire        flush_now = !sending_q && buf_n_q != '0
                         && (buf_n_q >= max_n || buf_age_q >= cfg_flush
                             || (s_rec_valid && !joinable));

    assign s_rec_ready = take;
    assign q_accepted  = acc_q;
    assign q_written   = wr_q;

    always_comb begin
        q_busy = '0;
        if (buf_n_q != '0) begin
            q_busy[buf_queue_q] = 1'b1;
        end
    end

    // ---------------------------------------------------------------- write TLP
    always_comb begin
        req_hdr_t h;
        h          = '0;
        h.kind     = REQ_MEM_WR;
        h.addr     = rec_addr(buf_queue_q, buf_idx_q);
        h.dw_count = 11'({buf_n_q, 3'd0});
        h.first_be = 4'hf;
        h.last_be  = 4'hf;
        m_axis_req_tuser  = h;
        m_axis_req_tvalid = sending_q;
        m_axis_req_tdata  = AXIS_W'(buf_q[send_beat_q[$clog2(MAX_RECS)-1:0]]);
        m_axis_req_tkeep  = '1;
        m_axis_req_tlast  = (send_beat_q + RW'(1) == buf_n_q);
    end
    wire sent = sending_q && m_axis_req_tready && m_axis_req_tlast;

    // ---------------------------------------------------------------- moderation
    logic [NQ-1:0][15:0] pend_q;      // records written since the last interrupt
    logic [NQ-1:0][15:0] mod_age_q;
    logic [NQ-1:0]       due_q;
    logic [QW-1:0]       irq_rr_q;

    logic          irq_pick_valid;
    logic [QW-1:0] irq_pick;
    always_comb begin
        irq_pick_valid = 1'b0;
        irq_pick       = '0;
        for (int i = NQ; i >= 1; i--) begin
            logic [QW-1:0] q;
            q = QW'(32'(irq_rr_q) + i);
            if (due_q[q]) begin
                irq_pick_valid = 1'b1;
                irq_pick       = q;
            end
        end
    end

    logic          irq_valid_q;
    logic [QW-1:0] irq_q_q;
    assign irq_valid  = irq_valid_q;
    assign irq_vector = q_irq_vector[irq_q_q];

    // ---------------------------------------------------------------- sequential
    always_ff @(posedge clk) begin
        if (take) begin
            rx_cpl_t r;
            logic [15:0] idx;
            idx     = (buf_n_q == '0) ? acc_q[s_rec_q] : next_idx;
            r       = s_rec;
            r.phase = {7'd0, ((idx >> q_cpl_size_log2[s_rec_q]) & 16'd1) == 16'd0};
            buf_q[buf_n_q[$clog2(MAX_RECS)-1:0]] <= r;
        end

        if (rst) begin
            buf_n_q     <= '0;
            sending_q   <= 1'b0;
            send_beat_q <= '0;
            buf_age_q   <= '0;
            acc_q       <= '0;
            wr_q        <= '0;
            pend_q      <= '0;
            mod_age_q   <= '0;
            due_q       <= '0;
            irq_rr_q    <= '0;
            irq_valid_q <= 1'b0;
            irq_q_q     <= '0;
        end else begin
            // buffer
            if (take) begin
                if (buf_n_q == '0) begin
                    buf_queue_q <= s_rec_q;
                    buf_idx_q   <= acc_q[s_rec_q];
                    buf_age_q   <= '0;
                end
                buf_n_q         <= buf_n_q + RW'(1);
                acc_q[s_rec_q]  <= acc_q[s_rec_q] + 16'd1;
            end else if (buf_n_q != '0 && buf_age_q != 16'hffff) begin
                buf_age_q <= buf_age_q + 16'd1;
            end
            if (flush_now) begin
                sending_q   <= 1'b1;
                send_beat_q <= '0;
            end
            if (sending_q && m_axis_req_tready) begin
                send_beat_q <= send_beat_q + RW'(1);
            end
            if (sent) begin
                sending_q            <= 1'b0;
                buf_n_q              <= '0;
                wr_q[buf_queue_q]    <= wr_q[buf_queue_q] + 16'(buf_n_q);
                pend_q[buf_queue_q]  <= pend_q[buf_queue_q] + 16'(buf_n_q);
            end

            // moderation: count and age, per queue
            for (int q = 0; q < NQ; q++) begin
                logic [15:0] pend;
                pend = pend_q[q] + ((sent && buf_queue_q == QW'(q)) ? 16'(buf_n_q) : 16'd0);
                if (pend_q[q] != 16'd0 && mod_age_q[q] != 16'hffff) begin
                    mod_age_q[q] <= mod_age_q[q] + 16'd1;
                end
                if (pend != 16'd0 && (pend >= 16'(q_mod_pkts[q])
                    || (q_mod_cycles[q] != 16'd0 && mod_age_q[q] >= q_mod_cycles[q]))) begin
                    due_q[q] <= q_irq_enable[q];
                end
                if (q_err_irq[q]) begin
                    due_q[q] <= q_irq_enable[q];
                end
            end

            // interrupt out
            if (irq_valid_q && irq_ready) begin
                irq_valid_q <= 1'b0;
            end
            if ((!irq_valid_q || irq_ready) && irq_pick_valid) begin
                irq_valid_q         <= 1'b1;
                irq_q_q             <= irq_pick;
                irq_rr_q            <= irq_pick;
                due_q[irq_pick]     <= 1'b0;
                pend_q[irq_pick]    <= '0;
                mod_age_q[irq_pick] <= '0;
            end

            // a queue without interrupts does not collect them
            for (int q = 0; q < NQ; q++) begin
                if (!q_irq_enable[q]) begin
                    due_q[q]     <= 1'b0;
                    pend_q[q]    <= '0;
                    mod_age_q[q] <= '0;
                end
                if (q_reset[q]) begin
                    acc_q[q]     <= '0;
                    wr_q[q]      <= '0;
                    due_q[q]     <= 1'b0;
                    pend_q[q]    <= '0;
                    mod_age_q[q] <= '0;
                end
            end
            // records of a queue being reset are not written
            if (buf_n_q != '0 && !sending_q && q_reset[buf_queue_q]) begin
                buf_n_q <= '0;
            end
        end
    end

endmodule

`resetall

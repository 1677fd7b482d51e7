// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// RX DMA engine for NQ queues (docs/dma.md): descriptor prefetch and cache (rx_desc_cache),
// placement with header split over groups, asking RSS (rss_toeplitz) and steering (rx_steer)
// for each frame's queue (rx_place), coalesced completions and moderated interrupts
// (rx_cpl_wr), and each queue's error state and configuration checks.
//
// Requests: frame data and completion records share one arbiter (m_axis_wr), and a record
// is offered only after its frame's last data beat has left, so it always follows the data
// on the ordered write stream. Descriptor reads are a stream of their own (m_axis_rd):
// splitrx_core buffers the writes (req_sf_fifo) and lets reads pass them. An interrupt is
// raised only after the records it announces have left, and the MSI-X block's message
// joins the write stream behind them (splitrx_core). A queue is quiescent only once no
// write is buffered downstream (wr_pending low).
//
// Queue errors (model/records.py QueueError): DESC_READ / DESC_TIMEOUT from the cache,
// CPL_FULL / BAD_GROUP from placement, BAD_CONFIG when a queue is enabled with bad rings,
// CONFIG_CHANGED when its placement settings change while it is enabled. The first error
// sticks until CTRL.reset and sends the queue's interrupt.
module rx_dma #(
    // Number of RX queues
    parameter int NQ = 8,
    // Descriptors cached per queue
    parameter int DESC_CACHE = 32,
    // Outstanding descriptor reads
    parameter int TAGS = 16,
    // PCIe request/completion stream width in bits
    parameter int AXIS_W = 256
) (
    input  wire                  clk,
    input  wire                  rst,

    // Frames from the parser (tuser: frame length in bytes, on every beat) and its records
    input  wire [63:0]           s_axis_frame_tdata,
    input  wire [7:0]            s_axis_frame_tkeep,
    input  wire                  s_axis_frame_tvalid,
    output logic                 s_axis_frame_tready,
    input  wire                  s_axis_frame_tlast,
    input  wire [15:0]           s_axis_frame_tuser,
    input  wire [splitrx_meta_pkg::META_HDR_W-1:0]   s_meta_hdr,
    input  wire [splitrx_meta_pkg::META_TUPLE_W-1:0] s_meta_tuple,
    input  wire [splitrx_meta_pkg::META_CSUM_W-1:0]  s_meta_csum,

    // Write requests (frame data, completion records), in order
    output logic [AXIS_W-1:0]    m_axis_wr_tdata,
    output logic [AXIS_W/32-1:0] m_axis_wr_tkeep,
    output logic                 m_axis_wr_tvalid,
    input  wire                  m_axis_wr_tready,
    output logic                 m_axis_wr_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_wr_tuser,
    // Writes taken from m_axis_wr that have not yet left for the PCIe adapter
    input  wire                  wr_pending,

    // Read requests (descriptor fetches)
    output logic [AXIS_W-1:0]    m_axis_rd_tdata,
    output logic [AXIS_W/32-1:0] m_axis_rd_tkeep,
    output logic                 m_axis_rd_tvalid,
    input  wire                  m_axis_rd_tready,
    output logic                 m_axis_rd_tlast,
    output logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] m_axis_rd_tuser,

    // Completions from the PCIe adapter
    input  wire [AXIS_W-1:0]     s_axis_cpl_tdata,
    input  wire [AXIS_W/32-1:0]  s_axis_cpl_tkeep,
    input  wire                  s_axis_cpl_tvalid,
    output logic                 s_axis_cpl_tready,
    input  wire                  s_axis_cpl_tlast,
    input  wire [splitrx_pcie_pkg::CPL_HDR_W-1:0] s_axis_cpl_tuser,

    // Queue registers (RXQ[q])
    input  wire [NQ-1:0]         q_enable,
    input  wire [NQ-1:0]         q_reset,            // pulse
    input  wire [NQ-1:0][1:0]    q_mode,
    input  wire [NQ-1:0][1:0]    q_split_level,
    input  wire [NQ-1:0]         q_mergeable,
    input  wire [NQ-1:0]         q_drop_when_empty,
    input  wire [NQ-1:0][63:0]   q_desc_base,
    input  wire [NQ-1:0][4:0]    q_desc_size_log2,
    input  wire [NQ-1:0][15:0]   q_desc_tail,
    input  wire [NQ-1:0][11:0]   q_data_offset,
    input  wire [NQ-1:0][63:0]   q_cpl_base,
    input  wire [NQ-1:0][4:0]    q_cpl_size_log2,
    input  wire [NQ-1:0][15:0]   q_cpl_head,
    input  wire [NQ-1:0]         q_irq_enable,
    input  wire [NQ-1:0][5:0]    q_irq_vector,
    input  wire [NQ-1:0][7:0]    q_mod_pkts,
    input  wire [NQ-1:0][15:0]   q_mod_cycles,

    // Global settings
    input  wire [2:0]            cfg_max_payload,    // MPS = 128 << value bytes
    input  wire [2:0]            cfg_max_read_req,   // MRRS = 128 << value bytes
    input  wire [15:0]           cfg_desc_wait,
    input  wire [15:0]           cfg_cpl_flush,
    input  wire [15:0]           cfg_rd_timeout,

    // RSS lookup (rss_toeplitz)
    output logic                 rss_req_valid,
    input  wire                  rss_req_ready,
    output logic [splitrx_meta_pkg::META_TUPLE_W-1:0] rss_req_tuple,
    input  wire                  rss_res_valid,
    output logic                 rss_res_ready,
    input  wire [31:0]           rss_res_hash,
    input  wire [$clog2(splitrx_records_pkg::RSS_TYPE_COUNT)-1:0] rss_res_type,
    input  wire [5:0]            rss_res_queue,

    // Steering lookup (rx_steer)
    output logic                 steer_req_valid,
    input  wire                  steer_req_ready,
    output logic [47:0]          steer_req_mac,
    output logic                 steer_req_vlan_present,
    output logic [11:0]          steer_req_vlan_id,
    output logic [5:0]           steer_req_rss_queue,
    input  wire                  steer_res_valid,
    output logic                 steer_res_ready,
    input  wire                  steer_res_drop,
    input  wire [5:0]            steer_res_queue,

    // Interrupt requests to the MSI-X block
    output logic                 irq_valid,
    input  wire                  irq_ready,
    output logic [5:0]           irq_vector,

    // Queue status
    output logic [NQ-1:0][15:0]  q_desc_head,
    output logic [NQ-1:0][15:0]  q_cpl_tail,
    output logic [NQ-1:0]        q_error,
    output logic [NQ-1:0][7:0]   q_error_code,
    output logic [NQ-1:0]        q_quiescent,

    // One event per frame
    output logic                 ev_delivered,
    output logic [15:0]          ev_delivered_bytes,
    output logic                 ev_drop,
    output logic [3:0]           ev_drop_reason,
    output logic                 ev_queue_valid,
    output logic [$clog2(NQ)-1:0] ev_queue
);

    import splitrx_records_pkg::*;

    localparam int QW = $clog2(NQ);
    localparam int DW = $clog2(DESC_CACHE);

    // ---------------------------------------------------------------- queue errors
    logic [NQ-1:0]      err_q;
    logic [NQ-1:0][7:0] code_q;
    logic [NQ-1:0]      en_prev_q;
    logic [NQ-1:0][5:0] ctl_prev_q;     // mode, split level, mergeable, drop when empty
    logic [NQ-1:0]      err_rd, err_to, err_irq;
    logic               pl_err_valid;
    logic [QW-1:0]      pl_err_q;
    logic [7:0]         pl_err_code;

    logic [NQ-1:0][5:0] ctl;
    logic [NQ-1:0]      cfg_bad;
    always_comb begin
        for (int q = 0; q < NQ; q++) begin
            ctl[q] = {q_mode[q], q_split_level[q], q_mergeable[q], q_drop_when_empty[q]};
            cfg_bad[q] = q_desc_base[q] == 64'd0 || q_cpl_base[q] == 64'd0
                      || q_desc_base[q][4:0] != 5'd0 || q_cpl_base[q][4:0] != 5'd0
                      || q_desc_size_log2[q] > 5'd15 || q_cpl_size_log2[q] > 5'd15
                      || q_cpl_size_log2[q] < q_desc_size_log2[q];
        end
    end

    logic [NQ-1:0]      new_err;
    logic [NQ-1:0][7:0] new_code;
    always_comb begin
        for (int q = 0; q < NQ; q++) begin
            new_err[q]  = 1'b1;
            new_code[q] = 8'd0;
            if (err_rd[q]) begin
                new_code[q] = 8'(QUEUE_ERROR_DESC_READ);
            end else if (err_to[q]) begin
                new_code[q] = 8'(QUEUE_ERROR_DESC_TIMEOUT);
            end else if (pl_err_valid && pl_err_q == QW'(q)) begin
                new_code[q] = pl_err_code;
            end else if (q_enable[q] && !en_prev_q[q] && cfg_bad[q]) begin
                new_code[q] = 8'(QUEUE_ERROR_BAD_CONFIG);
            end else if (q_enable[q] && en_prev_q[q] && ctl[q] != ctl_prev_q[q]) begin
                new_code[q] = 8'(QUEUE_ERROR_CONFIG_CHANGED);
            end else begin
                new_err[q] = 1'b0;
            end
            err_irq[q] = new_err[q] && !err_q[q] && !q_reset[q];
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            err_q     <= '0;
            code_q    <= '0;
            en_prev_q <= '0;
        end else begin
            en_prev_q <= q_enable;
            for (int q = 0; q < NQ; q++) begin
                if (q_reset[q]) begin
                    err_q[q]  <= 1'b0;
                    code_q[q] <= '0;
                end else if (new_err[q] && !err_q[q]) begin
                    err_q[q]  <= 1'b1;
                    code_q[q] <= new_code[q];
                end
            end
        end
        ctl_prev_q <= ctl;
    end

    // The status shows an error from the clock it is found, so a STATUS read right behind
    // the register write that caused it (e.g. CTRL.enable with a bad ring) sees it.
    always_comb begin
        for (int q = 0; q < NQ; q++) begin
            q_error[q]      = err_q[q] || (new_err[q] && !q_reset[q]);
            q_error_code[q] = err_q[q] ? code_q[q] : (q_error[q] ? new_code[q] : 8'd0);
        end
    end

    // ---------------------------------------------------------------- descriptor cache
    logic [QW-1:0]  rd_q, pop_q;
    logic [DW-1:0]  rd_off;
    logic [DW:0]    pop_n;
    rx_desc_t       rd_desc;
    logic           rd_valid, pop;
    logic [NQ-1:0]  reads_pending;

    rx_desc_cache #(
        .NQ(NQ),
        .DEPTH(DESC_CACHE),
        .TAGS(TAGS),
        .AXIS_W(AXIS_W)
    ) cache_inst (
        .clk, .rst,
        .q_fetch_en(q_enable & ~err_q),
        .q_reset,
        .q_desc_base,
        .q_desc_size_log2,
        .q_desc_tail,
        .cfg_max_read_req,
        .cfg_rd_timeout,
        .rd_q, .rd_off, .rd_desc, .rd_valid,
        .pop, .pop_q, .pop_n,
        .q_head(q_desc_head),
        .q_reads_pending(reads_pending),
        .q_err_read(err_rd),
        .q_err_timeout(err_to),
        .m_axis_req_tdata(m_axis_rd_tdata),
        .m_axis_req_tkeep(m_axis_rd_tkeep),
        .m_axis_req_tvalid(m_axis_rd_tvalid),
        .m_axis_req_tready(m_axis_rd_tready),
        .m_axis_req_tlast(m_axis_rd_tlast),
        .m_axis_req_tuser(m_axis_rd_tuser),
        .s_axis_cpl_tdata,
        .s_axis_cpl_tkeep,
        .s_axis_cpl_tvalid,
        .s_axis_cpl_tready,
        .s_axis_cpl_tlast,
        .s_axis_cpl_tuser
    );

    // ---------------------------------------------------------------- placement
    logic [AXIS_W-1:0]    data_tdata;
    logic [AXIS_W/32-1:0] data_tkeep;
    logic                 data_tvalid, data_tready, data_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] data_tuser;

    logic                 rec_valid, rec_ready;
    logic [QW-1:0]        rec_q;
    rx_cpl_t              rec;
    logic [NQ-1:0][15:0]  cpl_accepted;
    logic                 pl_busy;
    logic [QW-1:0]        pl_busy_q;
    logic [15:0]          ev_bytes;

    rx_place #(
        .NQ(NQ),
        .DEPTH(DESC_CACHE),
        .AXIS_W(AXIS_W)
    ) place_inst (
        .clk, .rst,
        .s_axis_frame_tdata, .s_axis_frame_tkeep, .s_axis_frame_tvalid, .s_axis_frame_tready,
        .s_axis_frame_tlast, .s_axis_frame_tuser, .s_meta_hdr, .s_meta_tuple, .s_meta_csum,
        .rss_req_valid, .rss_req_ready, .rss_req_tuple, .rss_res_valid, .rss_res_ready,
        .rss_res_hash, .rss_res_type, .rss_res_queue,
        .steer_req_valid, .steer_req_ready, .steer_req_mac, .steer_req_vlan_present,
        .steer_req_vlan_id, .steer_req_rss_queue, .steer_res_valid, .steer_res_ready,
        .steer_res_drop, .steer_res_queue,
        .q_enable,
        .q_error(err_q),
        .q_reset,
        .q_mode,
        .q_split_level,
        .q_mergeable,
        .q_drop_when_empty,
        .q_data_offset,
        .q_desc_tail,
        .q_desc_head,
        .q_cpl_head,
        .q_cpl_accepted(cpl_accepted),
        .q_cpl_size_log2,
        .cfg_max_payload,
        .cfg_desc_wait,
        .rd_q, .rd_off, .rd_desc, .rd_valid,
        .pop, .pop_q, .pop_n,
        .m_axis_req_tdata(data_tdata),
        .m_axis_req_tkeep(data_tkeep),
        .m_axis_req_tvalid(data_tvalid),
        .m_axis_req_tready(data_tready),
        .m_axis_req_tlast(data_tlast),
        .m_axis_req_tuser(data_tuser),
        .m_rec_valid(rec_valid),
        .m_rec_ready(rec_ready),
        .m_rec_q(rec_q),
        .m_rec(rec),
        .err_valid(pl_err_valid),
        .err_q(pl_err_q),
        .err_code(pl_err_code),
        .busy(pl_busy),
        .busy_q(pl_busy_q),
        .ev_delivered,
        .ev_bytes,
        .ev_drop,
        .ev_drop_reason,
        .ev_queue_valid,
        .ev_queue
    );

    assign ev_delivered_bytes = ev_bytes;

    // ---------------------------------------------------------------- completions
    logic [AXIS_W-1:0]    cw_tdata;
    logic [AXIS_W/32-1:0] cw_tkeep;
    logic                 cw_tvalid, cw_tready, cw_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] cw_tuser;
    logic [NQ-1:0]        cpl_busy;

    rx_cpl_wr #(
        .NQ(NQ),
        .AXIS_W(AXIS_W)
    ) cpl_wr_inst (
        .clk, .rst,
        .s_rec_valid(rec_valid),
        .s_rec_ready(rec_ready),
        .s_rec_q(rec_q),
        .s_rec(rec),
        .q_reset,
        .q_cpl_base,
        .q_cpl_size_log2,
        .q_irq_enable,
        .q_irq_vector,
        .q_mod_pkts,
        .q_mod_cycles,
        .q_err_irq(err_irq),
        .cfg_max_payload,
        .cfg_flush(cfg_cpl_flush),
        .q_accepted(cpl_accepted),
        .q_written(q_cpl_tail),
        .q_busy(cpl_busy),
        .m_axis_req_tdata(cw_tdata),
        .m_axis_req_tkeep(cw_tkeep),
        .m_axis_req_tvalid(cw_tvalid),
        .m_axis_req_tready(cw_tready),
        .m_axis_req_tlast(cw_tlast),
        .m_axis_req_tuser(cw_tuser),
        .irq_valid, .irq_ready, .irq_vector
    );

    always_comb begin
        for (int q = 0; q < NQ; q++) begin
            q_quiescent[q] = !q_enable[q] && !(pl_busy && pl_busy_q == QW'(q)) && !cpl_busy[q]
                          && !reads_pending[q] && !wr_pending;
        end
    end

    // ---------------------------------------------------------------- write arbitration
    req_mux #(
        .AXIS_W(AXIS_W)
    ) data_cpl_mux_inst (
        .clk, .rst,
        .s0_axis_tdata(data_tdata),
        .s0_axis_tkeep(data_tkeep),
        .s0_axis_tvalid(data_tvalid),
        .s0_axis_tready(data_tready),
        .s0_axis_tlast(data_tlast),
        .s0_axis_tuser(data_tuser),
        .s1_axis_tdata(cw_tdata),
        .s1_axis_tkeep(cw_tkeep),
        .s1_axis_tvalid(cw_tvalid),
        .s1_axis_tready(cw_tready),
        .s1_axis_tlast(cw_tlast),
        .s1_axis_tuser(cw_tuser),
        .m_axis_tdata(m_axis_wr_tdata),
        .m_axis_tkeep(m_axis_wr_tkeep),
        .m_axis_tvalid(m_axis_wr_tvalid),
        .m_axis_tready(m_axis_wr_tready),
        .m_axis_tlast(m_axis_wr_tlast),
        .m_axis_tuser(m_axis_wr_tuser)
    );

endmodule

`resetall

// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// splitrx core, all in the PCIe user clock domain: frames from the clock-crossing FIFO
// through the packet FIFO, the header parser and the RX DMA engine (with RSS and steering) to
// the Xilinx UltraScale+ PCIe user interface (RQ/RC/CQ/CC, 256-bit at 250 MHz), with the
// register block and counters.
//
// PCIe port naming and the one-bit tready: see splitrx_top.
module splitrx_core #(
    // PCIe user interface width in bits
    parameter int AXIS_PCIE_W = 256,
    // RQ / RC / CQ / CC tuser widths for UltraScale+ at 256 bits
    parameter int RQ_USER_W = 62,
    parameter int RC_USER_W = 75,
    parameter int CQ_USER_W = 88,
    parameter int CC_USER_W = 33,
    // log2 of the BAR0 aperture in bytes (model/regmap.py BAR0_SIZE)
    parameter int BAR0_ADDR_W = 16,
    // Packet FIFO size in bytes
    parameter int RX_FIFO_BYTES = 32768,
    // Largest frame accepted, FCS included (jumbo + two VLAN tags)
    parameter int MAX_FRAME_BYTES = 9026
) (
    input  wire                      clk,
    input  wire                      rst,

    // Frames from the MAC (via the clock crossing); tuser on tlast: {drop reason, bad}
    input  wire [63:0]               s_axis_rx_tdata,
    input  wire [7:0]                s_axis_rx_tkeep,
    input  wire                      s_axis_rx_tvalid,
    output wire                      s_axis_rx_tready,
    input  wire                      s_axis_rx_tlast,
    input  wire [4:0]                s_axis_rx_tuser,

    // Requester request
    output wire [AXIS_PCIE_W-1:0]    m_axis_rq_tdata,
    output wire [AXIS_PCIE_W/32-1:0] m_axis_rq_tkeep,
    output wire                      m_axis_rq_tvalid,
    input  wire                      m_axis_rq_tready,
    output wire                      m_axis_rq_tlast,
    output wire [RQ_USER_W-1:0]      m_axis_rq_tuser,

    // Requester completion
    input  wire [AXIS_PCIE_W-1:0]    s_axis_rc_tdata,
    input  wire [AXIS_PCIE_W/32-1:0] s_axis_rc_tkeep,
    input  wire                      s_axis_rc_tvalid,
    output wire                      s_axis_rc_tready,
    input  wire                      s_axis_rc_tlast,
    input  wire [RC_USER_W-1:0]      s_axis_rc_tuser,

    // Completer request
    input  wire [AXIS_PCIE_W-1:0]    s_axis_cq_tdata,
    input  wire [AXIS_PCIE_W/32-1:0] s_axis_cq_tkeep,
    input  wire                      s_axis_cq_tvalid,
    output wire                      s_axis_cq_tready,
    input  wire                      s_axis_cq_tlast,
    input  wire [CQ_USER_W-1:0]      s_axis_cq_tuser,

    // Completer completion
    output wire [AXIS_PCIE_W-1:0]    m_axis_cc_tdata,
    output wire [AXIS_PCIE_W/32-1:0] m_axis_cc_tkeep,
    output wire                      m_axis_cc_tvalid,
    input  wire                      m_axis_cc_tready,
    output wire                      m_axis_cc_tlast,
    output wire [CC_USER_W-1:0]      m_axis_cc_tuser,

    // Configuration status
    input  wire [2:0]                cfg_max_payload,
    input  wire [2:0]                cfg_max_read_req,
    // MSI-X capability state per physical function (bit 0: PF0)
    input  wire [3:0]                cfg_interrupt_msix_enable,
    input  wire [3:0]                cfg_interrupt_msix_mask
);

    import splitrx_csr_pkg::*;

    // ---------------------------------------------------------------- hard-IP boundary
    // A register slice (axis_reg) on each of RQ, RC, CQ and CC and a register on each
    // configuration input: no core logic is combinational in a hard-IP signal, so the paths
    // to and from the hard IP stay within one register stage. Each slice costs one clock of
    // latency. (In Verilator this also keeps the core's logic out of the evaluation it repeats
    // at every change of a top-level input, a clock edge included.)
    localparam int KEEP_W = AXIS_PCIE_W / 32;

    logic [AXIS_PCIE_W-1:0] rq_tdata, rc_tdata, cq_tdata, cc_tdata;
    logic [KEEP_W-1:0]      rq_tkeep, rc_tkeep, cq_tkeep, cc_tkeep;
    logic                   rq_tvalid, rq_tready, rq_tlast, rc_tvalid, rc_tready, rc_tlast;
    logic                   cq_tvalid, cq_tready, cq_tlast, cc_tvalid, cc_tready, cc_tlast;
    logic [RQ_USER_W-1:0]   rq_tuser;
    logic [RC_USER_W-1:0]   rc_tuser;
    logic [CQ_USER_W-1:0]   cq_tuser;
    logic [CC_USER_W-1:0]   cc_tuser;

    axis_reg #(
        .DATA_W(RQ_USER_W + 1 + KEEP_W + AXIS_PCIE_W)
    ) rq_reg_inst (
        .clk, .rst,
        .s_data({rq_tuser, rq_tlast, rq_tkeep, rq_tdata}),
        .s_valid(rq_tvalid),
        .s_ready(rq_tready),
        .m_data({m_axis_rq_tuser, m_axis_rq_tlast, m_axis_rq_tkeep, m_axis_rq_tdata}),
        .m_valid(m_axis_rq_tvalid),
        .m_ready(m_axis_rq_tready)
    );

    axis_reg #(
        .DATA_W(RC_USER_W + 1 + KEEP_W + AXIS_PCIE_W)
    ) rc_reg_inst (
        .clk, .rst,
        .s_data({s_axis_rc_tuser, s_axis_rc_tlast, s_axis_rc_tkeep, s_axis_rc_tdata}),
        .s_valid(s_axis_rc_tvalid),
        .s_ready(s_axis_rc_tready),
        .m_data({rc_tuser, rc_tlast, rc_tkeep, rc_tdata}),
        .m_valid(rc_tvalid),
        .m_ready(rc_tready)
    );

    axis_reg #(
        .DATA_W(CQ_USER_W + 1 + KEEP_W + AXIS_PCIE_W)
    ) cq_reg_inst (
        .clk, .rst,
        .s_data({s_axis_cq_tuser, s_axis_cq_tlast, s_axis_cq_tkeep, s_axis_cq_tdata}),
        .s_valid(s_axis_cq_tvalid),
        .s_ready(s_axis_cq_tready),
        .m_data({cq_tuser, cq_tlast, cq_tkeep, cq_tdata}),
        .m_valid(cq_tvalid),
        .m_ready(cq_tready)
    );

    axis_reg #(
        .DATA_W(CC_USER_W + 1 + KEEP_W + AXIS_PCIE_W)
    ) cc_reg_inst (
        .clk, .rst,
        .s_data({cc_tuser, cc_tlast, cc_tkeep, cc_tdata}),
        .s_valid(cc_tvalid),
        .s_ready(cc_tready),
        .m_data({m_axis_cc_tuser, m_axis_cc_tlast, m_axis_cc_tkeep, m_axis_cc_tdata}),
        .m_valid(m_axis_cc_tvalid),
        .m_ready(m_axis_cc_tready)
    );

    // configuration status: quasi-static, registered (no reset: the hard IP always drives it)
    logic [2:0] max_payload_q, max_read_req_q;
    logic       msix_enable_q, msix_fn_mask_q;

    always_ff @(posedge clk) begin
        max_payload_q  <= cfg_max_payload;
        max_read_req_q <= cfg_max_read_req;
        msix_enable_q  <= cfg_interrupt_msix_enable[0];
        msix_fn_mask_q <= cfg_interrupt_msix_mask[0];
    end

    // ---------------------------------------------------------------- BAR0 completer
    logic                   reg_req, reg_is_wr, reg_ack, reg_err;
    logic [BAR0_ADDR_W-1:0] reg_addr;
    logic [31:0]            reg_wr_data, reg_rd_data;
    logic [3:0]             reg_wr_be;
    logic                   bad_access;

    pcie_us_cq_cc #(
        .AXIS_W(AXIS_PCIE_W),
        .CQ_USER_W(CQ_USER_W),
        .CC_USER_W(CC_USER_W),
        .BAR_ADDR_W(BAR0_ADDR_W)
    ) cq_cc_inst (
        .clk, .rst,
        .s_axis_cq_tdata(cq_tdata), .s_axis_cq_tkeep(cq_tkeep), .s_axis_cq_tvalid(cq_tvalid),
        .s_axis_cq_tready(cq_tready), .s_axis_cq_tlast(cq_tlast), .s_axis_cq_tuser(cq_tuser),
        .m_axis_cc_tdata(cc_tdata), .m_axis_cc_tkeep(cc_tkeep), .m_axis_cc_tvalid(cc_tvalid),
        .m_axis_cc_tready(cc_tready), .m_axis_cc_tlast(cc_tlast), .m_axis_cc_tuser(cc_tuser),
        .reg_req, .reg_is_wr, .reg_addr, .reg_wr_data, .reg_wr_be,
        .reg_ack, .reg_err, .reg_rd_data,
        .bad_access
    );

    // ---------------------------------------------------------------- BAR0 decode
    // Global and queue registers occupy the CPU-interface window of the register block, the
    // MSI-X table and PBA the 8 KiB at 0x8000 (model/regmap.py MSIX_*_OFFSET); every other
    // offset answers with an error on the next cycle.
    localparam int CSR_ADDR_W = SPLITRX_CSR_MIN_ADDR_WIDTH;

    logic        csr_sel;
    logic        csr_rd_ack, csr_rd_err, csr_wr_ack, csr_wr_err;
    logic [31:0] csr_rd_data;
    logic        csr_stall_wr, csr_stall_rd;
    logic        nosel_ack_q;

    localparam logic [BAR0_ADDR_W-1:0] MSIX_BASE = BAR0_ADDR_W'(splitrx_regs_pkg::MSIX_BASE);
    localparam int MSIX_ADDR_W = $clog2(splitrx_regs_pkg::MSIX_WINDOW_BYTES);

    logic        msix_sel, msix_ack, msix_err;
    logic [31:0] msix_rd_data;

    assign csr_sel  = (reg_addr[BAR0_ADDR_W-1:CSR_ADDR_W] == '0);
    assign msix_sel = (reg_addr[BAR0_ADDR_W-1:MSIX_ADDR_W] == MSIX_BASE[BAR0_ADDR_W-1:MSIX_ADDR_W]);

    always_ff @(posedge clk) begin
        if (rst) begin
            nosel_ack_q <= 1'b0;
        end else begin
            nosel_ack_q <= reg_req && !csr_sel && !msix_sel;
        end
    end

    assign reg_ack     = csr_rd_ack || csr_wr_ack || msix_ack || nosel_ack_q;
    assign reg_err     = nosel_ack_q || (csr_rd_ack && csr_rd_err) || (csr_wr_ack && csr_wr_err)
                      || (msix_ack && msix_err);
    assign reg_rd_data = msix_ack ? msix_rd_data : csr_rd_data;

    splitrx_csr__in_t  hwif_in;
    splitrx_csr__out_t hwif_out;

    // ---------------------------------------------------------------- core reset
    // A write of 1 to DEV_CTRL.reset makes core_reset high for the one clock after it: in that
    // clock every register field returns to its reset value (the block's core_rst), every
    // queue is reset as by its CTRL.reset, the steering table is emptied and the RSS
    // indirection clear starts again. The write is decoded here from the request (the field's
    // own output, inside hwif_out, would close a loop through the register block's inputs).
    // The block answers one access at a time: pcie_us_cq_cc issues the next only after the
    // answer, so the block's write stall (the 2 clocks after a read request) never meets a
    // request and no read is in its registered read path at a reset. A request that meets the
    // reset clock is handed to the block one clock later (pcie_us_cq_cc holds it until
    // answered), so every access after the reset write sees the reset registers and none is lost.
    localparam logic [CSR_ADDR_W-1:0] DEV_CTRL_ADDR = CSR_ADDR_W'(splitrx_regs_pkg::DEV_CTRL_ADDR);

    logic       core_reset, csr_req, csr_replay_q;
    logic [7:0] core_resets_q;

    assign csr_req = (reg_req && csr_sel && !core_reset) || csr_replay_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            core_reset    <= 1'b0;
            csr_replay_q  <= 1'b0;
            core_resets_q <= '0;
        end else begin
            core_reset   <= csr_req && reg_is_wr && reg_addr[CSR_ADDR_W-1:0] == DEV_CTRL_ADDR
                         && reg_wr_be[0] && reg_wr_data[0];
            csr_replay_q <= reg_req && csr_sel && core_reset;
            if (core_reset) begin
                core_resets_q <= core_resets_q + 8'd1;
            end
        end
    end

    splitrx_csr csr_inst (
        .clk, .rst,
        .s_cpuif_req(csr_req),
        .s_cpuif_req_is_wr(reg_is_wr),
        .s_cpuif_addr(reg_addr[CSR_ADDR_W-1:0]),
        .s_cpuif_wr_data(reg_wr_data),
        .s_cpuif_wr_biten({{8{reg_wr_be[3]}}, {8{reg_wr_be[2]}}, {8{reg_wr_be[1]}}, {8{reg_wr_be[0]}}}),
        .s_cpuif_req_stall_wr(csr_stall_wr),
        .s_cpuif_req_stall_rd(csr_stall_rd),
        .s_cpuif_rd_ack(csr_rd_ack),
        .s_cpuif_rd_err(csr_rd_err),
        .s_cpuif_rd_data(csr_rd_data),
        .s_cpuif_wr_ack(csr_wr_ack),
        .s_cpuif_wr_err(csr_wr_err),
        .hwif_in, .hwif_out
    );

    // ---------------------------------------------------------------- DMA self-test
    logic [255:0] dma_test_data;
    logic         dma_test_busy, dma_test_bad_req;
    logic [15:0]  dma_test_done_count;

    for (genvar i = 0; i < 8; i++) begin : gen_dma_test_data
        assign dma_test_data[32*i +: 32] = hwif_out.DMA_TEST_DATA[i].data.value;
    end

    logic [AXIS_PCIE_W-1:0]    test_req_tdata;
    logic [AXIS_PCIE_W/32-1:0] test_req_tkeep;
    logic                      test_req_tvalid, test_req_tready, test_req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] test_req_tuser;

    dma_test #(
        .AXIS_W(AXIS_PCIE_W)
    ) dma_test_inst (
        .clk, .rst,
        .start(hwif_out.DMA_TEST_CTRL.start.value),
        .addr({hwif_out.DMA_TEST_ADDR_HI.addr.value, hwif_out.DMA_TEST_ADDR_LO.addr.value}),
        .len_bytes(hwif_out.DMA_TEST_LEN.len.value),
        .data(dma_test_data),
        .busy(dma_test_busy),
        .done_count(dma_test_done_count),
        .bad_req(dma_test_bad_req),
        .m_axis_req_tdata(test_req_tdata),
        .m_axis_req_tkeep(test_req_tkeep),
        .m_axis_req_tvalid(test_req_tvalid),
        .m_axis_req_tready(test_req_tready),
        .m_axis_req_tlast(test_req_tlast),
        .m_axis_req_tuser(test_req_tuser)
    );

    // ---------------------------------------------------------------- packet FIFO
    localparam int NUM_REASONS = splitrx_records_pkg::DROP_REASON_COUNT;

    logic [63:0] frame_tdata;
    logic [7:0]  frame_tkeep;
    logic        frame_tvalid, frame_tready, frame_tlast;
    logic [15:0] frame_tuser;
    logic [NUM_REASONS*64-1:0] fifo_drop_count;
    logic [63:0] fifo_frames_good;
    logic [$clog2(RX_FIFO_BYTES):0] fifo_level;

    rx_fifo #(
        .DEPTH_BYTES(RX_FIFO_BYTES),
        .MAX_FRAME_BYTES(MAX_FRAME_BYTES)
    ) rx_fifo_inst (
        .clk, .rst,
        .s_axis_tdata(s_axis_rx_tdata),
        .s_axis_tkeep(s_axis_rx_tkeep),
        .s_axis_tvalid(s_axis_rx_tvalid),
        .s_axis_tready(s_axis_rx_tready),
        .s_axis_tlast(s_axis_rx_tlast),
        .s_axis_tuser(s_axis_rx_tuser),
        .m_axis_tdata(frame_tdata),
        .m_axis_tkeep(frame_tkeep),
        .m_axis_tvalid(frame_tvalid),
        .m_axis_tready(frame_tready),
        .m_axis_tlast(frame_tlast),
        .m_axis_tuser(frame_tuser),
        .drop_count(fifo_drop_count),
        .frames_in_good(fifo_frames_good),
        .level_bytes(fifo_level)
    );

    // ---------------------------------------------------------------- parser
    logic [63:0] parsed_tdata;
    logic [7:0]  parsed_tkeep;
    logic        parsed_tvalid, parsed_tready, parsed_tlast;
    logic [15:0] parsed_tuser;
    logic [splitrx_meta_pkg::META_HDR_W-1:0]   meta_hdr;
    logic [splitrx_meta_pkg::META_TUPLE_W-1:0] meta_tuple;
    logic [splitrx_meta_pkg::META_CSUM_W-1:0]  meta_csum;

    rx_parser parser_inst (
        .clk, .rst,
        .s_axis_tdata(frame_tdata),
        .s_axis_tkeep(frame_tkeep),
        .s_axis_tvalid(frame_tvalid),
        .s_axis_tready(frame_tready),
        .s_axis_tlast(frame_tlast),
        .s_axis_tuser(frame_tuser),
        .m_axis_tdata(parsed_tdata),
        .m_axis_tkeep(parsed_tkeep),
        .m_axis_tvalid(parsed_tvalid),
        .m_axis_tready(parsed_tready),
        .m_axis_tlast(parsed_tlast),
        .m_axis_tuser(parsed_tuser),
        .m_meta_hdr(meta_hdr),
        .m_meta_tuple(meta_tuple),
        .m_meta_csum(meta_csum)
    );

    // ---------------------------------------------------------------- RSS
    // 8 tuple bytes per clock, the width the frame rate needs: a hash takes C + 1 clocks, C =
    // ceil(tuple bytes / 8) (IPv4 2-tuple 2, 4-tuple 3; IPv6 5 and 6; none 1), well inside the
    // 16.8 clocks of a 64-byte frame at 10 GbE (docs/frontend.md).
    localparam int RSS_BYTES_PER_CYCLE = 8;
    localparam int RSS_TYPE_W = $clog2(splitrx_records_pkg::RSS_TYPE_COUNT);

    logic        rss_req_valid, rss_req_ready, rss_res_valid, rss_res_ready;
    logic        rss_eng_req_ready;
    logic [splitrx_meta_pkg::META_TUPLE_W-1:0] rss_req_tuple;
    splitrx_meta_pkg::meta_tuple_t rss_tuple;
    logic [31:0] rss_res_hash;
    logic [RSS_TYPE_W-1:0] rss_res_type;
    logic [5:0]  rss_res_queue;
    logic [319:0] rss_key;
    logic [7:0]  ind_clr_q;      // entries cleared since reset; bit 7: all 128 done
    logic        ind_wr_en;
    logic [6:0]  ind_wr_addr;
    logic [5:0]  ind_wr_queue;

    assign rss_tuple = splitrx_meta_pkg::meta_tuple_t'(rss_req_tuple);

    // RSS_KEY[i] holds key bytes 4i..4i+3, byte 4i in bits 31:24; key byte 0 is key[319:312].
    for (genvar i = 0; i < 10; i++) begin : gen_rss_key
        assign rss_key[319 - 32*i -: 32] = hwif_out.RSS_KEY[i].bytes.value;
    end

    // rss_toeplitz does not reset its indirection table: the 128 clocks after a reset write every
    // entry 0 (RSS_INDIR writes then, which no host can make so early, would be lost) and hold
    // RSS requests until then.
    always_ff @(posedge clk) begin
        if (rst || core_reset) begin
            ind_clr_q <= '0;
        end else if (!ind_clr_q[7]) begin
            ind_clr_q <= ind_clr_q + 8'd1;
        end
    end

    assign ind_wr_en     = !ind_clr_q[7] || hwif_out.RSS_INDIR.write.value;
    assign ind_wr_addr   = ind_clr_q[7] ? hwif_out.RSS_INDIR.index.value : ind_clr_q[6:0];
    assign ind_wr_queue  = ind_clr_q[7] ? hwif_out.RSS_INDIR.queue.value : 6'd0;
    assign rss_req_ready = rss_eng_req_ready && ind_clr_q[7];

    rss_toeplitz #(
        .Q_W(6),
        .BYTES_PER_CYCLE(RSS_BYTES_PER_CYCLE)
    ) rss_inst (
        .clk, .rst,
        .key(rss_key),
        .udp_4tuple(hwif_out.RSS_CTRL.udp_4tuple.value),
        .ind_wr_en,
        .ind_wr_addr,
        .ind_wr_queue,
        .s_req_valid(rss_req_valid && ind_clr_q[7]),
        .s_req_ready(rss_eng_req_ready),
        .s_req_is_ip(rss_tuple.is_ip),
        .s_req_is_ipv6(rss_tuple.is_ipv6),
        .s_req_is_tcp(rss_tuple.is_tcp),
        .s_req_is_udp(rss_tuple.is_udp),
        .s_req_is_frag(rss_tuple.is_frag),
        .s_req_src_addr(rss_tuple.src_addr),
        .s_req_dst_addr(rss_tuple.dst_addr),
        .s_req_src_port(rss_tuple.src_port),
        .s_req_dst_port(rss_tuple.dst_port),
        .m_res_valid(rss_res_valid),
        .m_res_ready(rss_res_ready),
        .m_res_hash(rss_res_hash),
        .m_res_rss_type(rss_res_type),
        .m_res_queue(rss_res_queue)
    );

    // ---------------------------------------------------------------- steering
    localparam int STEER_ENTRIES = splitrx_regs_pkg::STEER_ENTRIES;

    logic        steer_req_valid, steer_req_ready, steer_req_vlan_present;
    logic [47:0] steer_req_mac;
    logic [5:0]  steer_req_rss_queue;
    logic [11:0] steer_req_vlan_id;
    logic        steer_res_valid, steer_res_ready, steer_res_drop;
    logic [5:0]  steer_res_queue;
    logic [3:0]  steer_res_reason;
    logic [2:0]  steer_res_rule;
    logic [$clog2(STEER_ENTRIES)-1:0] steer_res_entry;

    rx_steer #(
        .ENTRIES(STEER_ENTRIES),
        .Q_W(6)
    ) steer_inst (
        .clk, .rst,
        .promisc(hwif_out.STEER_CTRL.promisc.value),
        .tbl_clear(core_reset),
        .tbl_wr_en(hwif_out.STEER_COMMIT.commit.value),
        .tbl_wr_idx(hwif_out.STEER_ENTRY.index.value),
        .tbl_wr_valid(hwif_out.STEER_ENTRY.valid.value),
        .tbl_wr_mac({hwif_out.STEER_MAC_HI.mac.value, hwif_out.STEER_MAC_LO.mac.value}),
        .tbl_wr_vlan_match_en(hwif_out.STEER_ENTRY.vlan_match.value),
        .tbl_wr_vlan_id(hwif_out.STEER_ENTRY.vlan_id.value),
        .tbl_wr_queue(hwif_out.STEER_ENTRY.queue.value),
        .s_req_valid(steer_req_valid),
        .s_req_ready(steer_req_ready),
        .s_req_dst_mac(steer_req_mac),
        .s_req_vlan_present(steer_req_vlan_present),
        .s_req_vlan_id(steer_req_vlan_id),
        .s_req_rss_queue(steer_req_rss_queue),
        .m_res_valid(steer_res_valid),
        .m_res_ready(steer_res_ready),
        .m_res_queue(steer_res_queue),
        .m_res_drop(steer_res_drop),
        .m_res_drop_reason(steer_res_reason),
        .m_res_rule(steer_res_rule),
        .m_res_entry(steer_res_entry)
    );

    // ---------------------------------------------------------------- RX DMA
    localparam int NQ = splitrx_regs_pkg::RX_QUEUES;
    localparam int DESC_CACHE = splitrx_regs_pkg::DESC_CACHE_DEPTH;
    localparam int QW = $clog2(NQ);

    logic [AXIS_PCIE_W-1:0]    dma_req_tdata, dma_rd_tdata;
    logic [AXIS_PCIE_W/32-1:0] dma_req_tkeep, dma_rd_tkeep;
    logic                      dma_req_tvalid, dma_req_tready, dma_req_tlast;
    logic                      dma_rd_tvalid, dma_rd_tready, dma_rd_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] dma_req_tuser, dma_rd_tuser;
    logic                      wr_sf_busy;

    logic [AXIS_PCIE_W-1:0]    cpl_tdata;
    logic [AXIS_PCIE_W/32-1:0] cpl_tkeep;
    logic                      cpl_tvalid, cpl_tready, cpl_tlast;
    logic [splitrx_pcie_pkg::CPL_HDR_W-1:0] cpl_tuser;

    logic [NQ-1:0]        q_enable, q_reset, q_mergeable, q_drop_when_empty, q_irq_enable;
    logic [NQ-1:0][1:0]   q_mode, q_split_level;
    logic [NQ-1:0][63:0]  q_desc_base, q_cpl_base;
    logic [NQ-1:0][4:0]   q_desc_size_log2, q_cpl_size_log2;
    logic [NQ-1:0][15:0]  q_desc_tail, q_cpl_head, q_mod_cycles;
    logic [NQ-1:0][11:0]  q_data_offset;
    logic [NQ-1:0][5:0]   q_irq_vector;
    logic [NQ-1:0][7:0]   q_mod_pkts;

    logic [NQ-1:0][15:0]  q_desc_head, q_cpl_tail;
    logic [NQ-1:0]        q_error, q_quiescent;
    logic [NQ-1:0][7:0]   q_error_code;
    logic        ev_delivered, ev_drop, ev_queue_valid;
    logic [15:0] ev_delivered_bytes;
    logic [3:0]  ev_drop_reason;
    logic [QW-1:0] ev_queue;
    logic        irq_valid, irq_ready;
    logic [5:0]  irq_vector;

    for (genvar q = 0; q < NQ; q++) begin : gen_rxq
        assign q_enable[q]          = hwif_out.RXQ[q].CTRL.enable.value;
        assign q_reset[q]           = hwif_out.RXQ[q].CTRL.reset.value;
        assign q_mode[q]            = hwif_out.RXQ[q].CTRL.mode.value;
        assign q_split_level[q]     = hwif_out.RXQ[q].CTRL.split_level.value;
        assign q_mergeable[q]       = hwif_out.RXQ[q].CTRL.mergeable.value;
        assign q_drop_when_empty[q] = hwif_out.RXQ[q].CTRL.drop_when_empty.value;
        assign q_desc_base[q]       = {hwif_out.RXQ[q].DESC_BASE_HI.addr.value,
                                       hwif_out.RXQ[q].DESC_BASE_LO.addr.value};
        assign q_desc_size_log2[q]  = hwif_out.RXQ[q].DESC_SIZE.log2.value;
        assign q_desc_tail[q]       = hwif_out.RXQ[q].DESC_TAIL.index.value;
        assign q_data_offset[q]     = hwif_out.RXQ[q].DATA_OFFSET.bytes.value;
        assign q_cpl_base[q]        = {hwif_out.RXQ[q].CPL_BASE_HI.addr.value,
                                       hwif_out.RXQ[q].CPL_BASE_LO.addr.value};
        assign q_cpl_size_log2[q]   = hwif_out.RXQ[q].CPL_SIZE.log2.value;
        assign q_cpl_head[q]        = hwif_out.RXQ[q].CPL_HEAD.index.value;
        assign q_irq_enable[q]      = hwif_out.RXQ[q].IRQ.enable.value;
        assign q_irq_vector[q]      = hwif_out.RXQ[q].IRQ.vector.value;
        assign q_mod_pkts[q]        = hwif_out.RXQ[q].MODERATION.packets.value;
        assign q_mod_cycles[q]      = hwif_out.RXQ[q].MODERATION.cycles.value;
    end

    rx_dma #(
        .NQ(NQ),
        .DESC_CACHE(DESC_CACHE),
        .AXIS_W(AXIS_PCIE_W)
    ) rx_dma_inst (
        .clk, .rst,
        .s_axis_frame_tdata(parsed_tdata),
        .s_axis_frame_tkeep(parsed_tkeep),
        .s_axis_frame_tvalid(parsed_tvalid),
        .s_axis_frame_tready(parsed_tready),
        .s_axis_frame_tlast(parsed_tlast),
        .s_axis_frame_tuser(parsed_tuser),
        .s_meta_hdr(meta_hdr),
        .s_meta_tuple(meta_tuple),
        .s_meta_csum(meta_csum),
        .m_axis_wr_tdata(dma_req_tdata),
        .m_axis_wr_tkeep(dma_req_tkeep),
        .m_axis_wr_tvalid(dma_req_tvalid),
        .m_axis_wr_tready(dma_req_tready),
        .m_axis_wr_tlast(dma_req_tlast),
        .m_axis_wr_tuser(dma_req_tuser),
        .wr_pending(wr_sf_busy),
        .m_axis_rd_tdata(dma_rd_tdata),
        .m_axis_rd_tkeep(dma_rd_tkeep),
        .m_axis_rd_tvalid(dma_rd_tvalid),
        .m_axis_rd_tready(dma_rd_tready),
        .m_axis_rd_tlast(dma_rd_tlast),
        .m_axis_rd_tuser(dma_rd_tuser),
        .s_axis_cpl_tdata(cpl_tdata),
        .s_axis_cpl_tkeep(cpl_tkeep),
        .s_axis_cpl_tvalid(cpl_tvalid),
        .s_axis_cpl_tready(cpl_tready),
        .s_axis_cpl_tlast(cpl_tlast),
        .s_axis_cpl_tuser(cpl_tuser),
        .q_enable, .q_reset(q_reset | {NQ{core_reset}}), .q_mode, .q_split_level,
        .q_mergeable, .q_drop_when_empty,
        .q_desc_base, .q_desc_size_log2, .q_desc_tail, .q_data_offset,
        .q_cpl_base, .q_cpl_size_log2, .q_cpl_head,
        .q_irq_enable, .q_irq_vector, .q_mod_pkts, .q_mod_cycles,
        .cfg_max_payload(max_payload_q),
        .cfg_max_read_req(max_read_req_q),
        .cfg_desc_wait(hwif_out.DMA_DESC_WAIT.cycles.value),
        .cfg_cpl_flush(hwif_out.DMA_CPL_FLUSH.cycles.value),
        .cfg_rd_timeout(hwif_out.DMA_RD_TIMEOUT.cycles_x256.value),
        .rss_req_valid, .rss_req_ready, .rss_req_tuple, .rss_res_valid, .rss_res_ready,
        .rss_res_hash, .rss_res_type, .rss_res_queue,
        .steer_req_valid, .steer_req_ready, .steer_req_mac, .steer_req_vlan_present,
        .steer_req_vlan_id, .steer_req_rss_queue, .steer_res_valid, .steer_res_ready,
        .steer_res_drop, .steer_res_queue,
        .irq_valid, .irq_ready, .irq_vector,
        .q_desc_head, .q_cpl_tail, .q_error, .q_error_code, .q_quiescent,
        .ev_delivered, .ev_delivered_bytes, .ev_drop, .ev_drop_reason,
        .ev_queue_valid, .ev_queue
    );

    // per-queue counters: packets, bytes, drops (64-bit; reading LO latches HI)
    logic [NQ-1:0][63:0] qc_pkts_q, qc_bytes_q, qc_drops_q;
    logic [NQ-1:0][31:0] qc_pkts_hi_q, qc_bytes_hi_q, qc_drops_hi_q;

    always_ff @(posedge clk) begin
        for (int q = 0; q < NQ; q++) begin
            if (ev_queue_valid && ev_queue == QW'(q)) begin
                if (ev_delivered) begin
                    qc_pkts_q[q]  <= qc_pkts_q[q] + 64'd1;
                    qc_bytes_q[q] <= qc_bytes_q[q] + 64'(ev_delivered_bytes);
                end
                if (ev_drop) begin
                    qc_drops_q[q] <= qc_drops_q[q] + 64'd1;
                end
            end
            if (hwif_out.RXQ[q].PACKETS.LO.value.swacc) qc_pkts_hi_q[q]  <= qc_pkts_q[q][63:32];
            if (hwif_out.RXQ[q].BYTES.LO.value.swacc)   qc_bytes_hi_q[q] <= qc_bytes_q[q][63:32];
            if (hwif_out.RXQ[q].DROPS.LO.value.swacc)   qc_drops_hi_q[q] <= qc_drops_q[q][63:32];
        end
        if (rst) begin
            qc_pkts_q     <= '0;
            qc_bytes_q    <= '0;
            qc_drops_q    <= '0;
            qc_pkts_hi_q  <= '0;
            qc_bytes_hi_q <= '0;
            qc_drops_hi_q <= '0;
        end
    end

    // ---------------------------------------------------------------- counters
    // MSI-X counters and error, driven by u_msix below.
    logic [63:0] msix_drop_count, msix_msg_count;
    logic        msix_bad_vector;
    // 64-bit totals; reading a counter's LO word latches its HI word.
    logic [63:0] dma_drop_q [NUM_REASONS];
    logic [63:0] drop_total [NUM_REASONS];
    logic [31:0] drop_hi_q [NUM_REASONS];
    logic [63:0] rx_frames_q, rx_bytes_q;
    logic [31:0] rx_frames_hi_q, rx_bytes_hi_q;
    logic [31:0] msix_msgs_hi_q, msix_drops_hi_q;

    always_ff @(posedge clk) begin
        for (int r = 0; r < NUM_REASONS; r++) begin
            if (ev_drop && ev_drop_reason == 4'(r)) begin
                dma_drop_q[r] <= dma_drop_q[r] + 64'd1;
            end
            if (hwif_out.DROP[r].LO.value.swacc) begin
                drop_hi_q[r] <= drop_total[r][63:32];
            end
        end
        if (ev_delivered) begin
            rx_frames_q <= rx_frames_q + 64'd1;
            rx_bytes_q  <= rx_bytes_q + 64'(ev_delivered_bytes);
        end
        if (hwif_out.RX_FRAMES.LO.value.swacc) begin
            rx_frames_hi_q <= rx_frames_q[63:32];
        end
        if (hwif_out.RX_BYTES.LO.value.swacc) begin
            rx_bytes_hi_q <= rx_bytes_q[63:32];
        end
        if (hwif_out.MSIX_MSGS.LO.value.swacc) begin
            msix_msgs_hi_q <= msix_msg_count[63:32];
        end
        if (hwif_out.MSIX_DROPS.LO.value.swacc) begin
            msix_drops_hi_q <= msix_drop_count[63:32];
        end
        if (rst) begin
            for (int r = 0; r < NUM_REASONS; r++) begin
                dma_drop_q[r] <= '0;
                drop_hi_q[r]  <= '0;
            end
            rx_frames_q    <= '0;
            rx_bytes_q     <= '0;
            rx_frames_hi_q <= '0;
            rx_bytes_hi_q  <= '0;
            msix_msgs_hi_q  <= '0;
            msix_drops_hi_q <= '0;
        end
    end

    always_comb begin
        for (int r = 0; r < NUM_REASONS; r++) begin
            // each reason is counted by exactly one of the two blocks
            drop_total[r] = fifo_drop_count[64*r +: 64] + dma_drop_q[r];
        end
    end

    // The register block sees the system reset one clock late: hwif_in is one always_comb, and
    // `rst` in it would make all of it (and its fan-in) combinational in a top-level input.
    // No register access can reach the block in the clock after `rst` falls.
    logic rst_q;

    always_ff @(posedge clk) begin
        rst_q <= rst;
    end

    always_comb begin
        hwif_in = '{default: '0};
        hwif_in.core_rst                          = rst_q || core_reset;
        hwif_in.DEV_STATUS.reset_busy.next        = !ind_clr_q[7];
        hwif_in.DEV_STATUS.core_resets.next       = core_resets_q;
        hwif_in.ERR_STATUS.mmio_bad_access.hwset  = bad_access;
        hwif_in.ERR_STATUS.dma_test_bad_req.hwset = dma_test_bad_req;
        hwif_in.PCIE_CFG.max_payload.next         = max_payload_q;
        hwif_in.PCIE_CFG.max_read_req.next        = max_read_req_q;
        hwif_in.DMA_TEST_STATUS.busy.next         = dma_test_busy;
        hwif_in.DMA_TEST_STATUS.done_count.next   = dma_test_done_count;
        for (int r = 0; r < NUM_REASONS; r++) begin
            hwif_in.DROP[r].LO.value.next = drop_total[r][31:0];
            hwif_in.DROP[r].HI.value.next = drop_hi_q[r];
        end
        hwif_in.RX_FRAMES.LO.value.next = rx_frames_q[31:0];
        hwif_in.RX_FRAMES.HI.value.next = rx_frames_hi_q;
        hwif_in.RX_BYTES.LO.value.next  = rx_bytes_q[31:0];
        hwif_in.RX_BYTES.HI.value.next  = rx_bytes_hi_q;
        hwif_in.MSIX_MSGS.LO.value.next  = msix_msg_count[31:0];
        hwif_in.MSIX_MSGS.HI.value.next  = msix_msgs_hi_q;
        hwif_in.MSIX_DROPS.LO.value.next = msix_drop_count[31:0];
        hwif_in.MSIX_DROPS.HI.value.next = msix_drops_hi_q;
        hwif_in.ERR_STATUS.msix_bad_vector.hwset = msix_bad_vector;
        for (int q = 0; q < NQ; q++) begin
            hwif_in.RXQ[q].STATUS.error.next      = q_error[q];
            hwif_in.RXQ[q].STATUS.quiescent.next  = q_quiescent[q];
            hwif_in.RXQ[q].STATUS.error_code.next = q_error_code[q];
            hwif_in.RXQ[q].DESC_HEAD.index.next   = q_desc_head[q];
            hwif_in.RXQ[q].CPL_TAIL.index.next    = q_cpl_tail[q];
            hwif_in.RXQ[q].PACKETS.LO.value.next  = qc_pkts_q[q][31:0];
            hwif_in.RXQ[q].PACKETS.HI.value.next  = qc_pkts_hi_q[q];
            hwif_in.RXQ[q].BYTES.LO.value.next    = qc_bytes_q[q][31:0];
            hwif_in.RXQ[q].BYTES.HI.value.next    = qc_bytes_hi_q[q];
            hwif_in.RXQ[q].DROPS.LO.value.next    = qc_drops_q[q][31:0];
            hwif_in.RXQ[q].DROPS.HI.value.next    = qc_drops_hi_q[q];
        end
    end

    // ---------------------------------------------------------------- MSI-X
    localparam int MSIX_VECTORS = splitrx_regs_pkg::MSIX_VECTORS;

    logic [AXIS_PCIE_W-1:0]    msix_req_tdata;
    logic [AXIS_PCIE_W/32-1:0] msix_req_tkeep;
    logic                      msix_req_tvalid, msix_req_tready, msix_req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] msix_req_tuser;

    msix #(
        .VECTORS(MSIX_VECTORS),
        .AXIS_W(AXIS_PCIE_W)
    ) msix_inst (
        .clk, .rst,
        .reg_req(reg_req && msix_sel),
        .reg_is_wr,
        .reg_addr(reg_addr[MSIX_ADDR_W-1:0]),
        .reg_wr_data,
        .reg_wr_be,
        .reg_ack(msix_ack),
        .reg_err(msix_err),
        .reg_rd_data(msix_rd_data),
        .msix_enable(msix_enable_q),
        .msix_fn_mask(msix_fn_mask_q),
        .irq_valid, .irq_ready, .irq_vector,
        .irq_drop_count(msix_drop_count),
        .msg_count(msix_msg_count),
        .irq_bad_vector(msix_bad_vector),
        .m_axis_req_tdata(msix_req_tdata),
        .m_axis_req_tkeep(msix_req_tkeep),
        .m_axis_req_tvalid(msix_req_tvalid),
        .m_axis_req_tready(msix_req_tready),
        .m_axis_req_tlast(msix_req_tlast),
        .m_axis_req_tuser(msix_req_tuser)
    );

    // ---------------------------------------------------------------- request arbitration
    // DMA writes and MSI-X share one arbiter with no buffering, so an interrupt raised after a
    // completion was accepted follows it into the store-and-forward FIFO, which keeps their
    // order and sends each request back to back. Descriptor reads join behind the FIFO (a
    // read never waits for buffered writes: none of them depends on the device's own
    // writes), the self-test in a last arbiter.
    logic [AXIS_PCIE_W-1:0]    dq_req_tdata;
    logic [AXIS_PCIE_W/32-1:0] dq_req_tkeep;
    logic                      dq_req_tvalid, dq_req_tready, dq_req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] dq_req_tuser;

    req_mux #(
        .AXIS_W(AXIS_PCIE_W)
    ) dma_msix_mux_inst (
        .clk, .rst,
        .s0_axis_tdata(dma_req_tdata),
        .s0_axis_tkeep(dma_req_tkeep),
        .s0_axis_tvalid(dma_req_tvalid),
        .s0_axis_tready(dma_req_tready),
        .s0_axis_tlast(dma_req_tlast),
        .s0_axis_tuser(dma_req_tuser),
        .s1_axis_tdata(msix_req_tdata),
        .s1_axis_tkeep(msix_req_tkeep),
        .s1_axis_tvalid(msix_req_tvalid),
        .s1_axis_tready(msix_req_tready),
        .s1_axis_tlast(msix_req_tlast),
        .s1_axis_tuser(msix_req_tuser),
        .m_axis_tdata(dq_req_tdata),
        .m_axis_tkeep(dq_req_tkeep),
        .m_axis_tvalid(dq_req_tvalid),
        .m_axis_tready(dq_req_tready),
        .m_axis_tlast(dq_req_tlast),
        .m_axis_tuser(dq_req_tuser)
    );

    logic [AXIS_PCIE_W-1:0]    wq_req_tdata, rw_req_tdata;
    logic [AXIS_PCIE_W/32-1:0] wq_req_tkeep, rw_req_tkeep;
    logic                      wq_req_tvalid, wq_req_tready, wq_req_tlast;
    logic                      rw_req_tvalid, rw_req_tready, rw_req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] wq_req_tuser, rw_req_tuser;

    // 16 beats: a whole TLP of up to 512 bytes goes out back to back. Deeper would let
    // placement run further ahead of a stalled RQ, using cached descriptors that cannot be
    // refilled until RQ moves again (descriptor reads leave by RQ too).
    req_sf_fifo #(
        .AXIS_W(AXIS_PCIE_W),
        .DEPTH(16)
    ) wr_sf_inst (
        .clk, .rst,
        .s_axis_tdata(dq_req_tdata),
        .s_axis_tkeep(dq_req_tkeep),
        .s_axis_tvalid(dq_req_tvalid),
        .s_axis_tready(dq_req_tready),
        .s_axis_tlast(dq_req_tlast),
        .s_axis_tuser(dq_req_tuser),
        .m_axis_tdata(wq_req_tdata),
        .m_axis_tkeep(wq_req_tkeep),
        .m_axis_tvalid(wq_req_tvalid),
        .m_axis_tready(wq_req_tready),
        .m_axis_tlast(wq_req_tlast),
        .m_axis_tuser(wq_req_tuser),
        .busy(wr_sf_busy)
    );

    req_mux #(
        .AXIS_W(AXIS_PCIE_W)
    ) fetch_mux_inst (
        .clk, .rst,
        .s0_axis_tdata(wq_req_tdata),
        .s0_axis_tkeep(wq_req_tkeep),
        .s0_axis_tvalid(wq_req_tvalid),
        .s0_axis_tready(wq_req_tready),
        .s0_axis_tlast(wq_req_tlast),
        .s0_axis_tuser(wq_req_tuser),
        .s1_axis_tdata(dma_rd_tdata),
        .s1_axis_tkeep(dma_rd_tkeep),
        .s1_axis_tvalid(dma_rd_tvalid),
        .s1_axis_tready(dma_rd_tready),
        .s1_axis_tlast(dma_rd_tlast),
        .s1_axis_tuser(dma_rd_tuser),
        .m_axis_tdata(rw_req_tdata),
        .m_axis_tkeep(rw_req_tkeep),
        .m_axis_tvalid(rw_req_tvalid),
        .m_axis_tready(rw_req_tready),
        .m_axis_tlast(rw_req_tlast),
        .m_axis_tuser(rw_req_tuser)
    );

    logic [AXIS_PCIE_W-1:0]    req_tdata;
    logic [AXIS_PCIE_W/32-1:0] req_tkeep;
    logic                      req_tvalid, req_tready, req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] req_tuser;

    req_mux #(
        .AXIS_W(AXIS_PCIE_W)
    ) test_mux_inst (
        .clk, .rst,
        .s0_axis_tdata(rw_req_tdata),
        .s0_axis_tkeep(rw_req_tkeep),
        .s0_axis_tvalid(rw_req_tvalid),
        .s0_axis_tready(rw_req_tready),
        .s0_axis_tlast(rw_req_tlast),
        .s0_axis_tuser(rw_req_tuser),
        .s1_axis_tdata(test_req_tdata),
        .s1_axis_tkeep(test_req_tkeep),
        .s1_axis_tvalid(test_req_tvalid),
        .s1_axis_tready(test_req_tready),
        .s1_axis_tlast(test_req_tlast),
        .s1_axis_tuser(test_req_tuser),
        .m_axis_tdata(req_tdata),
        .m_axis_tkeep(req_tkeep),
        .m_axis_tvalid(req_tvalid),
        .m_axis_tready(req_tready),
        .m_axis_tlast(req_tlast),
        .m_axis_tuser(req_tuser)
    );

    // ---------------------------------------------------------------- requests to RQ
    pcie_us_rq #(
        .AXIS_W(AXIS_PCIE_W),
        .RQ_USER_W(RQ_USER_W)
    ) rq_inst (
        .clk, .rst,
        .s_axis_req_tdata(req_tdata),
        .s_axis_req_tkeep(req_tkeep),
        .s_axis_req_tvalid(req_tvalid),
        .s_axis_req_tready(req_tready),
        .s_axis_req_tlast(req_tlast),
        .s_axis_req_tuser(req_tuser),
        .m_axis_rq_tdata(rq_tdata), .m_axis_rq_tkeep(rq_tkeep), .m_axis_rq_tvalid(rq_tvalid),
        .m_axis_rq_tready(rq_tready), .m_axis_rq_tlast(rq_tlast), .m_axis_rq_tuser(rq_tuser)
    );

    // ---------------------------------------------------------------- completions (RC)
    pcie_us_rc #(
        .AXIS_W(AXIS_PCIE_W),
        .RC_USER_W(RC_USER_W)
    ) rc_inst (
        .clk, .rst,
        .s_axis_rc_tdata(rc_tdata), .s_axis_rc_tkeep(rc_tkeep), .s_axis_rc_tvalid(rc_tvalid),
        .s_axis_rc_tready(rc_tready), .s_axis_rc_tlast(rc_tlast), .s_axis_rc_tuser(rc_tuser),
        .m_axis_cpl_tdata(cpl_tdata),
        .m_axis_cpl_tkeep(cpl_tkeep),
        .m_axis_cpl_tvalid(cpl_tvalid),
        .m_axis_cpl_tready(cpl_tready),
        .m_axis_cpl_tlast(cpl_tlast),
        .m_axis_cpl_tuser(cpl_tuser)
    );

    logic unused;
    assign unused = ^{csr_stall_wr, csr_stall_rd, hwif_out.DEV_CTRL.reset.value, fifo_frames_good, fifo_level,
                      steer_res_reason, steer_res_rule, steer_res_entry,
                      cfg_interrupt_msix_enable[3:1], cfg_interrupt_msix_mask[3:1]};

endmodule

`resetall

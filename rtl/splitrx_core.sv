// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// splitrx core top: Xilinx UltraScale+ PCIe user interface (RQ/RC/CQ/CC, 256-bit at 250 MHz)
// around the register block and the DMA engine.
//
// Port names follow the hard IP with the core as the other end (m_axis_rq_*, s_axis_rc_*,
// s_axis_cq_*, m_axis_cc_*), so cocotbext AxiStreamBus.from_prefix finds them.
// The hard IP's s_axis_rq_tready and s_axis_cc_tready are 4 identical bits; this core takes
// one (bit 0 on a board). That is also what cocotbext-pcie needs under cocotb 2.x, whose
// RisingEdge refuses multi-bit signals (../shared/TOOLCHAIN.md).
module splitrx_top #(
    // PCIe user interface width in bits
    parameter int AXIS_PCIE_W = 256,
    // RQ / RC / CQ / CC tuser widths for UltraScale+ at 256 bits
    parameter int RQ_USER_W = 62,
    parameter int RC_USER_W = 75,
    parameter int CQ_USER_W = 88,
    parameter int CC_USER_W = 33,
    // log2 of the BAR0 aperture in bytes (model/regmap.py BAR0_SIZE)
    parameter int BAR0_ADDR_W = 16
) (
    input  wire                      clk,
    input  wire                      rst,

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
    input  wire [2:0]                cfg_max_read_req
);

    import splitrx_csr_pkg::*;

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
        .s_axis_cq_tdata, .s_axis_cq_tkeep, .s_axis_cq_tvalid, .s_axis_cq_tready,
        .s_axis_cq_tlast, .s_axis_cq_tuser,
        .m_axis_cc_tdata, .m_axis_cc_tkeep, .m_axis_cc_tvalid, .m_axis_cc_tready,
        .m_axis_cc_tlast, .m_axis_cc_tuser,
        .reg_req, .reg_is_wr, .reg_addr, .reg_wr_data, .reg_wr_be,
        .reg_ack, .reg_err, .reg_rd_data,
        .bad_access
    );

    // ---------------------------------------------------------------- BAR0 decode
    // Global registers occupy the CPU-interface window of the register block; every other
    // offset answers with an error on the next cycle.
    localparam int CSR_ADDR_W = SPLITRX_CSR_MIN_ADDR_WIDTH;

    logic        csr_sel;
    logic        csr_rd_ack, csr_rd_err, csr_wr_ack, csr_wr_err;
    logic [31:0] csr_rd_data;
    logic        csr_stall_wr, csr_stall_rd;
    logic        nosel_ack_q;

    assign csr_sel = (reg_addr[BAR0_ADDR_W-1:CSR_ADDR_W] == '0);

    always_ff @(posedge clk) begin
        if (rst) begin
            nosel_ack_q <= 1'b0;
        end else begin
            nosel_ack_q <= reg_req && !csr_sel;
        end
    end

    assign reg_ack     = csr_rd_ack || csr_wr_ack || nosel_ack_q;
    assign reg_err     = nosel_ack_q || (csr_rd_ack && csr_rd_err) || (csr_wr_ack && csr_wr_err);
    assign reg_rd_data = csr_rd_data;

    splitrx_csr__in_t  hwif_in;
    splitrx_csr__out_t hwif_out;

    splitrx_csr csr_inst (
        .clk, .rst,
        .s_cpuif_req(reg_req && csr_sel),
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

    logic [AXIS_PCIE_W-1:0]    req_tdata;
    logic [AXIS_PCIE_W/32-1:0] req_tkeep;
    logic                      req_tvalid, req_tready, req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] req_tuser;

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
        .m_axis_req_tdata(req_tdata),
        .m_axis_req_tkeep(req_tkeep),
        .m_axis_req_tvalid(req_tvalid),
        .m_axis_req_tready(req_tready),
        .m_axis_req_tlast(req_tlast),
        .m_axis_req_tuser(req_tuser)
    );

    always_comb begin
        hwif_in = '{default: '0};
        hwif_in.ERR_STATUS.mmio_bad_access.hwset  = bad_access;
        hwif_in.ERR_STATUS.dma_test_bad_req.hwset = dma_test_bad_req;
        hwif_in.PCIE_CFG.max_payload.next         = cfg_max_payload;
        hwif_in.PCIE_CFG.max_read_req.next        = cfg_max_read_req;
        hwif_in.DMA_TEST_STATUS.busy.next         = dma_test_busy;
        hwif_in.DMA_TEST_STATUS.done_count.next   = dma_test_done_count;
    end

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
        .m_axis_rq_tdata, .m_axis_rq_tkeep, .m_axis_rq_tvalid, .m_axis_rq_tready,
        .m_axis_rq_tlast, .m_axis_rq_tuser
    );

    // ---------------------------------------------------------------- completions (RC)
    // No read requests are issued yet: completions are accepted and discarded.
    assign s_axis_rc_tready = 1'b1;

    logic unused;
    assign unused = ^{s_axis_rc_tdata, s_axis_rc_tkeep, s_axis_rc_tvalid, s_axis_rc_tlast,
                      s_axis_rc_tuser, csr_stall_wr, csr_stall_rd};

endmodule

`resetall

// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Test top for msix behind the real PCIe path: BAR0 MMIO in on CQ/CC (pcie_us_cq_cc), the
// MSI-X window at BAR0 0x8000..0x9FFF (table 0x8000, PBA 0x9000, as model/regmap.py), every
// other BAR0 offset refused; messages out through pcie_us_rq on RQ. req_stall (from the
// test) holds the request stream between msix and the RQ adapter, so msix sees tready low
// for as long as the test likes; its request stream is mirrored on the mon_req_* outputs.
module msix_tb_top #(
    // Number of MSI-X vectors
    parameter int VECTORS = 16,
    // Low part of msix's 64-bit counters in bits (narrow: the carry into the high part is seen)
    parameter int unsigned COUNT_LO_W = 32
) (
    input  wire          clk,
    input  wire          rst,

    output wire [255:0]  m_axis_rq_tdata,
    output wire [7:0]    m_axis_rq_tkeep,
    output wire          m_axis_rq_tvalid,
    input  wire          m_axis_rq_tready,
    output wire          m_axis_rq_tlast,
    output wire [61:0]   m_axis_rq_tuser,

    input  wire [255:0]  s_axis_rc_tdata,
    input  wire [7:0]    s_axis_rc_tkeep,
    input  wire          s_axis_rc_tvalid,
    output wire          s_axis_rc_tready,
    input  wire          s_axis_rc_tlast,
    input  wire [74:0]   s_axis_rc_tuser,

    input  wire [255:0]  s_axis_cq_tdata,
    input  wire [7:0]    s_axis_cq_tkeep,
    input  wire          s_axis_cq_tvalid,
    output wire          s_axis_cq_tready,
    input  wire          s_axis_cq_tlast,
    input  wire [87:0]   s_axis_cq_tuser,

    output wire [255:0]  m_axis_cc_tdata,
    output wire [7:0]    m_axis_cc_tkeep,
    output wire          m_axis_cc_tvalid,
    input  wire          m_axis_cc_tready,
    output wire          m_axis_cc_tlast,
    output wire [32:0]   m_axis_cc_tuser,

    input  wire [2:0]    cfg_max_payload,
    input  wire [2:0]    cfg_max_read_req,
    input  wire [3:0]    cfg_interrupt_msix_enable,
    input  wire [3:0]    cfg_interrupt_msix_mask,

    input  wire          irq_valid,
    output wire          irq_ready,
    input  wire [5:0]    irq_vector,
    output wire [63:0]   irq_drop_count,
    output wire [63:0]   msg_count,
    output wire          irq_bad_vector,
    output wire          bad_access,

    input  wire          req_stall,
    output wire [31:0]   mon_req_tdata,   // payload dword 0
    output wire [7:0]    mon_req_tkeep,
    output wire          mon_req_tvalid,
    output wire          mon_req_tready,
    output wire          mon_req_tlast,
    output wire [splitrx_pcie_pkg::REQ_HDR_W-1:0] mon_req_tuser
);

    logic        reg_req, reg_is_wr, reg_ack, reg_err;
    logic [15:0] reg_addr;
    logic [31:0] reg_wr_data, reg_rd_data;
    logic [3:0]  reg_wr_be;

    pcie_us_cq_cc cq_cc_inst (
        .clk, .rst,
        .s_axis_cq_tdata, .s_axis_cq_tkeep, .s_axis_cq_tvalid, .s_axis_cq_tready,
        .s_axis_cq_tlast, .s_axis_cq_tuser,
        .m_axis_cc_tdata, .m_axis_cc_tkeep, .m_axis_cc_tvalid, .m_axis_cc_tready,
        .m_axis_cc_tlast, .m_axis_cc_tuser,
        .reg_req, .reg_is_wr, .reg_addr, .reg_wr_data, .reg_wr_be,
        .reg_ack, .reg_err, .reg_rd_data,
        .bad_access
    );

    // BAR0 decode: 0x8000..0x9FFF is the MSI-X window; anything else is refused next cycle.
    wire  msix_sel = (reg_addr[15:13] == 3'b100);
    logic nosel_ack_q;
    logic msix_ack, msix_err;
    logic [31:0] msix_rd_data;

    always_ff @(posedge clk) begin
        if (rst) begin
            nosel_ack_q <= 1'b0;
        end else begin
            nosel_ack_q <= reg_req && !msix_sel;
        end
    end

    assign reg_ack     = msix_ack || nosel_ack_q;
    assign reg_err     = (msix_ack && msix_err) || nosel_ack_q;
    assign reg_rd_data = msix_ack ? msix_rd_data : 32'd0;

    logic [255:0] req_tdata;
    logic [7:0]   req_tkeep;
    logic         req_tvalid, req_tready, req_tlast;
    logic [splitrx_pcie_pkg::REQ_HDR_W-1:0] req_tuser;
    logic         rq_in_tready;

    msix #(
        .VECTORS(VECTORS),
        .AXIS_W(256),
        .COUNT_LO_W(COUNT_LO_W)
    ) msix_inst (
        .clk, .rst,
        .reg_req(reg_req && msix_sel),
        .reg_is_wr,
        .reg_addr(reg_addr[12:0]),
        .reg_wr_data,
        .reg_wr_be,
        .reg_ack(msix_ack),
        .reg_err(msix_err),
        .reg_rd_data(msix_rd_data),
        .msix_enable(cfg_interrupt_msix_enable[0]),
        .msix_fn_mask(cfg_interrupt_msix_mask[0]),
        .irq_valid, .irq_ready, .irq_vector,
        .irq_drop_count, .msg_count, .irq_bad_vector,
        .m_axis_req_tdata(req_tdata),
        .m_axis_req_tkeep(req_tkeep),
        .m_axis_req_tvalid(req_tvalid),
        .m_axis_req_tready(req_tready),
        .m_axis_req_tlast(req_tlast),
        .m_axis_req_tuser(req_tuser)
    );

    // Test back-pressure: a stalled beat is neither offered to nor taken by the adapter.
    assign req_tready = rq_in_tready && !req_stall;

    pcie_us_rq rq_inst (
        .clk, .rst,
        .s_axis_req_tdata(req_tdata),
        .s_axis_req_tkeep(req_tkeep),
        .s_axis_req_tvalid(req_tvalid && !req_stall),
        .s_axis_req_tready(rq_in_tready),
        .s_axis_req_tlast(req_tlast),
        .s_axis_req_tuser(req_tuser),
        .m_axis_rq_tdata, .m_axis_rq_tkeep, .m_axis_rq_tvalid, .m_axis_rq_tready,
        .m_axis_rq_tlast, .m_axis_rq_tuser
    );

    assign mon_req_tdata  = req_tdata[31:0];
    assign mon_req_tkeep  = req_tkeep;
    assign mon_req_tvalid = req_tvalid;
    assign mon_req_tready = req_tready;
    assign mon_req_tlast  = req_tlast;
    assign mon_req_tuser  = req_tuser;

    // No reads are issued: requester completions are accepted and ignored.
    assign s_axis_rc_tready = 1'b1;

    logic unused;
    assign unused = ^{s_axis_rc_tdata, s_axis_rc_tkeep, s_axis_rc_tvalid, s_axis_rc_tlast,
                      s_axis_rc_tuser, cfg_max_payload, cfg_max_read_req,
                      cfg_interrupt_msix_enable[3:1], cfg_interrupt_msix_mask[3:1],
                      req_tdata[255:32]};

endmodule

`resetall

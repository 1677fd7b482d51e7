// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation-only top for the simulator-speed benchmark: splitrx_top with its XGMII input
// played from a ring of words that the testbench fills a frame at a time
// (tb.lib.xgmii.XgmiiFeed), instead of a testbench coroutine that wakes on every MAC clock to
// drive the bus. The PCIe and configuration ports are splitrx_top's, under the same names.
//
// Feeding: the testbench puts up to BLOCK_WORDS words in feed_blk_data (word i, {ctrl, data},
// at [72*i +: 72]) and their count in feed_blk_words; at the next mac_clk edge they are
// appended to the ring (the testbench checks the room first: FEED_DEPTH - (feed_wr_ptr -
// feed_rd_ptr)). From the edge after that, one word per MAC clock goes onto the bus;
// with the ring empty the bus is idle. A word loaded at an edge is on the bus for the clock
// after it, as when a testbench writes it at that edge.
module splitrx_feed_top #(
    // ring of words (a power of two)
    parameter int FEED_DEPTH = 1024,
    // words appended per block write (one frame of up to 2040 bytes with its gap)
    parameter int BLOCK_WORDS = 256
) (
    input  wire                          clk,
    input  wire                          rst,
    input  wire                          mac_clk,
    input  wire                          mac_rst,

    // Feeder (mac_clk domain)
    input  wire [72*BLOCK_WORDS-1:0]     feed_blk_data,
    input  wire [$clog2(BLOCK_WORDS):0]  feed_blk_words,
    output logic [$clog2(FEED_DEPTH):0] feed_wr_ptr,
    output logic [$clog2(FEED_DEPTH):0] feed_rd_ptr,

    // PCIe user interface and configuration status: as splitrx_top
    output wire [255:0]                  m_axis_rq_tdata,
    output wire [7:0]                    m_axis_rq_tkeep,
    output wire                          m_axis_rq_tvalid,
    input  wire                          m_axis_rq_tready,
    output wire                          m_axis_rq_tlast,
    output wire [61:0]                   m_axis_rq_tuser,
    input  wire [255:0]                  s_axis_rc_tdata,
    input  wire [7:0]                    s_axis_rc_tkeep,
    input  wire                          s_axis_rc_tvalid,
    output wire                          s_axis_rc_tready,
    input  wire                          s_axis_rc_tlast,
    input  wire [74:0]                   s_axis_rc_tuser,
    input  wire [255:0]                  s_axis_cq_tdata,
    input  wire [7:0]                    s_axis_cq_tkeep,
    input  wire                          s_axis_cq_tvalid,
    output wire                          s_axis_cq_tready,
    input  wire                          s_axis_cq_tlast,
    input  wire [87:0]                   s_axis_cq_tuser,
    output wire [255:0]                  m_axis_cc_tdata,
    output wire [7:0]                    m_axis_cc_tkeep,
    output wire                          m_axis_cc_tvalid,
    input  wire                          m_axis_cc_tready,
    output wire                          m_axis_cc_tlast,
    output wire [32:0]                   m_axis_cc_tuser,
    input  wire [2:0]                    cfg_max_payload,
    input  wire [2:0]                    cfg_max_read_req,
    input  wire [3:0]                    cfg_interrupt_msix_enable,
    input  wire [3:0]                    cfg_interrupt_msix_mask
);

    localparam int PTR_W = $clog2(FEED_DEPTH);

    if ((1 << PTR_W) != FEED_DEPTH || BLOCK_WORDS > FEED_DEPTH) begin : gen_check
        $fatal(0, "splitrx_feed_top: FEED_DEPTH a power of two >= BLOCK_WORDS (instance %m)");
    end

    logic [71:0] ring [FEED_DEPTH];
    logic [63:0] xgmii_rxd;  // the bus into the MAC
    logic [7:0]  xgmii_rxc;

    always_ff @(posedge mac_clk) begin
        if (mac_rst) begin
            feed_wr_ptr <= '0;
            feed_rd_ptr <= '0;
            xgmii_rxd   <= {8{8'h07}};
            xgmii_rxc   <= 8'hff;
        end else begin
            if (feed_blk_words != '0) begin
                for (int i = 0; i < BLOCK_WORDS; i++) begin
                    if (i < int'(feed_blk_words)) begin
                        ring[PTR_W'(feed_wr_ptr + (PTR_W + 1)'(i))] <= feed_blk_data[72*i +: 72];
                    end
                end
                feed_wr_ptr <= feed_wr_ptr + (PTR_W + 1)'(feed_blk_words);
            end
            if (feed_rd_ptr != feed_wr_ptr) begin
                {xgmii_rxc, xgmii_rxd} <= ring[feed_rd_ptr[PTR_W-1:0]];
                feed_rd_ptr <= feed_rd_ptr + 1'b1;
            end else begin
                xgmii_rxd <= {8{8'h07}};
                xgmii_rxc <= 8'hff;
            end
        end
    end

    splitrx_top top_inst (
        .clk, .rst, .mac_clk, .mac_rst, .xgmii_rxd, .xgmii_rxc,
        .m_axis_rq_tdata, .m_axis_rq_tkeep, .m_axis_rq_tvalid, .m_axis_rq_tready,
        .m_axis_rq_tlast, .m_axis_rq_tuser,
        .s_axis_rc_tdata, .s_axis_rc_tkeep, .s_axis_rc_tvalid, .s_axis_rc_tready,
        .s_axis_rc_tlast, .s_axis_rc_tuser,
        .s_axis_cq_tdata, .s_axis_cq_tkeep, .s_axis_cq_tvalid, .s_axis_cq_tready,
        .s_axis_cq_tlast, .s_axis_cq_tuser,
        .m_axis_cc_tdata, .m_axis_cc_tkeep, .m_axis_cc_tvalid, .m_axis_cc_tready,
        .m_axis_cc_tlast, .m_axis_cc_tuser,
        .cfg_max_payload, .cfg_max_read_req,
        .cfg_interrupt_msix_enable, .cfg_interrupt_msix_mask
    );

endmodule

`resetall

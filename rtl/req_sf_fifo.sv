// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Store-and-forward FIFO for the vendor-neutral request stream: a request is offered only once
// its last beat is in, so it leaves back to back and holds the arbiters and RQ behind it for
// as many clocks as it has beats. Frame data reaches rx_place at 8 bytes per clock, so
// without it a 256-byte write would hold RQ for the 36 clocks its payload takes to arrive
// instead of 9. Order is kept: requests leave as they came in.
//
// A request longer than the FIFO starts to leave when the FIFO is full (cut-through), so no
// length deadlocks it. busy: a request whose last beat is in has not wholly left.
module req_sf_fifo #(
    // Request stream width in bits
    parameter int AXIS_W = 256,
    // tuser width (splitrx_pcie_pkg::REQ_HDR_W)
    parameter int USER_W = splitrx_pcie_pkg::REQ_HDR_W,
    // Beats held (a power of two)
    parameter int DEPTH = 64
) (
    input  wire                  clk,
    input  wire                  rst,

    // Requests in
    input  wire [AXIS_W-1:0]     s_axis_tdata,
    input  wire [AXIS_W/32-1:0]  s_axis_tkeep,
    input  wire                  s_axis_tvalid,
    output logic                 s_axis_tready,
    input  wire                  s_axis_tlast,
    input  wire [USER_W-1:0]     s_axis_tuser,

    // Requests out, each back to back
    output logic [AXIS_W-1:0]    m_axis_tdata,
    output logic [AXIS_W/32-1:0] m_axis_tkeep,
    output logic                 m_axis_tvalid,
    input  wire                  m_axis_tready,
    output logic                 m_axis_tlast,
    output logic [USER_W-1:0]    m_axis_tuser,

    // A complete request is still inside
    output logic                 busy
);

    localparam int PTR_W = $clog2(DEPTH);
    localparam int KEEP_W = AXIS_W / 32;
    localparam int BEAT_W = USER_W + 1 + KEEP_W + AXIS_W;

    if (DEPTH < 2 || (1 << PTR_W) != DEPTH) begin : gen_check_depth
        $fatal(0, "req_sf_fifo: DEPTH must be a power of two >= 2 (instance %m)");
    end

    logic [BEAT_W-1:0] mem [DEPTH];  // datapath: no reset
    logic [PTR_W:0]    wr_ptr_q, rd_ptr_q;
    logic [PTR_W:0]    reqs_q;       // last beats in, not yet out

    wire [PTR_W:0] count = wr_ptr_q - rd_ptr_q;
    wire           full  = count == (PTR_W + 1)'(DEPTH);
    wire           push  = s_axis_tvalid && s_axis_tready;
    wire           pop   = m_axis_tvalid && m_axis_tready;

    assign s_axis_tready = !full;
    assign m_axis_tvalid = count != '0 && (reqs_q != '0 || full);
    assign {m_axis_tuser, m_axis_tlast, m_axis_tkeep, m_axis_tdata} = mem[rd_ptr_q[PTR_W-1:0]];
    assign busy = reqs_q != '0;

    always_ff @(posedge clk) begin
        if (rst) begin
            wr_ptr_q <= '0;
            rd_ptr_q <= '0;
            reqs_q   <= '0;
        end else begin
            if (push) begin
                wr_ptr_q <= wr_ptr_q + 1'b1;
            end
            if (pop) begin
                rd_ptr_q <= rd_ptr_q + 1'b1;
            end
            reqs_q <= reqs_q + (PTR_W + 1)'(push && s_axis_tlast) - (PTR_W + 1)'(pop && m_axis_tlast);
        end
    end

    always_ff @(posedge clk) begin
        if (push) begin
            mem[wr_ptr_q[PTR_W-1:0]] <= {s_axis_tuser, s_axis_tlast, s_axis_tkeep, s_axis_tdata};
        end
    end

endmodule

`resetall

// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Two-input arbiter for the vendor-neutral request stream: round robin between requests,
// holding the grant from a request's first beat to its tlast so TLPs never interleave.
// Input 0 wins ties after reset.
module req_mux #(
    // Request stream width in bits
    parameter int AXIS_W = 256,
    // tuser width (splitrx_pcie_pkg::REQ_HDR_W)
    parameter int USER_W = splitrx_pcie_pkg::REQ_HDR_W
) (
    input  wire                  clk,
    input  wire                  rst,

    input  wire [AXIS_W-1:0]     s0_axis_tdata,
    input  wire [AXIS_W/32-1:0]  s0_axis_tkeep,
    input  wire                  s0_axis_tvalid,
    output logic                 s0_axis_tready,
    input  wire                  s0_axis_tlast,
    input  wire [USER_W-1:0]     s0_axis_tuser,

    input  wire [AXIS_W-1:0]     s1_axis_tdata,
    input  wire [AXIS_W/32-1:0]  s1_axis_tkeep,
    input  wire                  s1_axis_tvalid,
    output logic                 s1_axis_tready,
    input  wire                  s1_axis_tlast,
    input  wire [USER_W-1:0]     s1_axis_tuser,

    output logic [AXIS_W-1:0]    m_axis_tdata,
    output logic [AXIS_W/32-1:0] m_axis_tkeep,
    output logic                 m_axis_tvalid,
    input  wire                  m_axis_tready,
    output logic                 m_axis_tlast,
    output logic [USER_W-1:0]    m_axis_tuser
);

    logic locked_q, locked_d;   // inside a request
    logic sel_q, sel_d;         // input holding the grant
    logic last_q, last_d;       // input granted last (round robin)
    logic sel;

    // Three separate blocks (selection, ready, next state) so that Verilator sees no
    // combinational loop when arbiters are cascaded: valid never depends on ready.
    always_comb begin
        if (locked_q) begin
            sel = sel_q;
        end else if (s0_axis_tvalid && s1_axis_tvalid) begin
            sel = ~last_q;
        end else begin
            sel = s1_axis_tvalid;
        end
        m_axis_tdata  = sel ? s1_axis_tdata  : s0_axis_tdata;
        m_axis_tkeep  = sel ? s1_axis_tkeep  : s0_axis_tkeep;
        m_axis_tvalid = sel ? s1_axis_tvalid : s0_axis_tvalid;
        m_axis_tlast  = sel ? s1_axis_tlast  : s0_axis_tlast;
        m_axis_tuser  = sel ? s1_axis_tuser  : s0_axis_tuser;
    end

    always_comb begin
        s0_axis_tready = m_axis_tready && !sel;
        s1_axis_tready = m_axis_tready && sel;
    end

    always_comb begin
        locked_d = locked_q;
        sel_d    = sel_q;
        last_d   = last_q;
        if (m_axis_tvalid && m_axis_tready) begin
            locked_d = !m_axis_tlast;
            sel_d    = sel;
            last_d   = sel;
        end
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            locked_q <= 1'b0;
            sel_q    <= 1'b0;
            last_q   <= 1'b1;
        end else begin
            locked_q <= locked_d;
            sel_q    <= sel_d;
            last_q   <= last_d;
        end
    end

endmodule

`resetall

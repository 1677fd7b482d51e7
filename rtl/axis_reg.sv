// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Register slice for a valid/ready stream: every output is a register and neither ready nor
// the payload passes through combinationally (a two-entry skid buffer), so a stream at full
// rate goes through with one clock of latency and no bubbles. splitrx_core puts one on each
// PCIe hard-IP stream (RQ, RC, CQ, CC): the paths between the hard IP and the core's logic
// stay inside one register stage, and no core logic is combinational in a hard-IP input.
//
// The payload is one vector: the caller packs {tuser, tlast, tkeep, tdata} or what it needs.
module axis_reg #(
    // payload width in bits
    parameter int DATA_W = 8
) (
    input  wire              clk,
    input  wire              rst,

    // Upstream
    input  wire [DATA_W-1:0] s_data,
    input  wire              s_valid,
    output logic             s_ready,

    // Downstream
    output logic [DATA_W-1:0] m_data,
    output logic              m_valid,
    input  wire               m_ready
);

    // m_* hold the beat on offer; skid_* a beat taken while the output was stalled
    logic [DATA_W-1:0] skid_data_q;
    logic              skid_valid_q;

    assign s_ready = !skid_valid_q;

    always_ff @(posedge clk) begin
        if (rst) begin
            m_valid      <= 1'b0;
            skid_valid_q <= 1'b0;
        end else if (!m_valid || m_ready) begin
            // the output is free (or taken this clock): the skid beat first, else the input
            m_valid      <= skid_valid_q || s_valid;
            skid_valid_q <= 1'b0;
        end else if (s_valid && !skid_valid_q) begin
            skid_valid_q <= 1'b1;
        end
    end

    // datapath: no reset
    always_ff @(posedge clk) begin
        if (!m_valid || m_ready) begin
            m_data <= skid_valid_q ? skid_data_q : s_data;
        end
        if (!skid_valid_q) begin
            skid_data_q <= s_data;
        end
    end

endmodule

`resetall

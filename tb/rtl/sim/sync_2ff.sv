// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Simulation model of rtl/sync_2ff.sv (same module, same ports): two flops, plus an optional
// model of metastability resolution (each change of an input bit appears after 2 or 3 clk
// cycles). Every Verilator build reads this file in place of rtl/sync_2ff.sv
// (tb/runner/build.py, SIM_MODELS); synthesis and strict elaboration read the RTL one.
//
// A multi-bit d must be gray coded (or a set of unrelated level signals) and registered in its
// source domain. With SIM_JITTER_EN = 1 every bit of a change of d independently appears after
// 2 or 3 clk edges, drawn with $urandom (seed: Verilator's +verilator+seed+N). Only the latest
// change before an edge can be in flight (an earlier one has long settled), so a gray code that
// moves two steps between edges still shows its old or its new value, while bits that change in
// one step (a binary count) resolve apart -- the bug this model exists to expose. With
// SIM_JITTER_EN = 0 it behaves as the RTL file's two plain flops.
module sync_2ff #(
    // Width of d/q in bits.
    parameter int unsigned WIDTH         = 1,
    // Simulation only: 1 = random extra cycle per input change (metastability model).
    parameter bit          SIM_JITTER_EN = 1'b0
) (
    input  logic             clk,  // destination clock
    input  logic             rst,  // destination-domain synchronous reset (q <= 0)

    // ---- signal crossing in ----
    input  logic [WIDTH-1:0] d,    // from the source domain (registered there)
    output logic [WIDTH-1:0] q     // d, two (or three) clk edges later
);

    if (WIDTH == 0) begin : g_check
        $fatal(0, "sync_2ff: WIDTH must be >= 1 (instance %m)");
    end

    logic [WIDTH-1:0] meta_q;  // first flop: the one that may go metastable in silicon
    logic [WIDTH-1:0] meta_d;
    logic [WIDTH-1:0] sync_q;  // second flop: resolved value

    if (SIM_JITTER_EN) begin : g_jitter
        // Simulation only. d_cur/d_old follow each change of d as it happens (in source time):
        // d_old is d before its latest change, whose bits alone can be in flight at a clk edge.
        // An event-driven process on purpose (it remembers a past value of d); d itself is
        // never flopped in this branch, only its copy d_cur.
        logic [WIDTH-1:0] d_cur;
        logic [WIDTH-1:0] d_old;
        logic [WIDTH-1:0] d_prev_q;   // d at the previous clk edge
        logic [WIDTH-1:0] late_q;     // random draw per bit, used at the next edge
        logic [WIDTH-1:0] late;

        always @(d) begin
            d_old = d_cur;
            d_cur = d;
        end

        always_comb begin
            // A bit of the latest change of d, made since the previous edge, may resolve one
            // edge late: captured now with its old value, with its new value at the next edge.
            late   = late_q & (d_cur ^ d_old) & (d_cur ^ d_prev_q);
            meta_d = (d_cur & ~late) | (d_old & late);
        end

        always_ff @(posedge clk) begin
            d_prev_q <= d_cur;
            for (int unsigned i = 0; i < WIDTH; i++) begin
                late_q[i] <= 1'($urandom);
            end
        end
    end else begin : g_plain
        assign meta_d = d;
    end

    always_ff @(posedge clk) begin
        if (rst) begin
            meta_q <= '0;
            sync_q <= '0;
        end else begin
            meta_q <= meta_d;
            sync_q <= meta_q;
        end
    end

    assign q = sync_q;

endmodule

`resetall

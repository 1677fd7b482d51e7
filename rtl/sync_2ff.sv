// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Two-flop synchronizer into the clk domain, with an optional simulation model of
// metastability resolution (each change of an input bit appears after 2 or 3 clk cycles).
//
// A multi-bit d must be gray coded (or a set of unrelated level signals) and registered in its
// source domain. With SIM_JITTER_EN = 1 each bit change independently takes 2 or 3 cycles,
// drawn with $urandom (seed: Verilator's +verilator+seed+N). Bits that change in the same clk
// cycle -- only possible when the source outruns clk -- take the same delay: a real first flop
// can only go metastable on the one gray bit changing at its edge, so it captures the old or
// the new code, never a mix of two steps. Synthesis sees only the two plain flops
// (SIM_JITTER_EN = 0 elaborates no $urandom).
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
        logic [WIDTH-1:0] d_prev_q;   // d as sampled at the previous clk edge
        logic [WIDTH-1:0] late_q;     // random draw: which changing bits take the extra cycle
        logic [WIDTH-1:0] changed;
        logic [WIDTH-1:0] late;

        always_comb begin
            changed = d ^ d_prev_q;
            late    = late_q & changed;
            if ($countones(changed) > 1) begin
                late = {WIDTH{late_q[0]}} & changed;
            end
            // A late bit is captured with its old value now and its new value one edge later.
            meta_d = (d & ~late) | (d_prev_q & late);
        end

        always_ff @(posedge clk) begin
            d_prev_q <= d;
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

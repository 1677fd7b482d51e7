// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Two-flop synchronizer into the clk domain (the synthesizable one).
//
// A multi-bit d must be gray coded (or a set of unrelated level signals) and registered in its
// source domain. Both flops carry ASYNC_REG, so the tools place them together and keep them
// out of retiming and SRL inference; synth/splitrx.xdc constrains the paths into meta_q.
// Simulation builds swap in tb/rtl/sim/sync_2ff.sv, the same module with a model of
// metastability resolution (SIM_JITTER_EN = 1: each change appears after 2 or 3 clk edges);
// this file only accepts SIM_JITTER_EN = 0.
module sync_2ff #(
    // Width of d/q in bits.
    parameter int unsigned WIDTH         = 1,
    // Simulation only (tb/rtl/sim/sync_2ff.sv): must be 0 here.
    parameter bit          SIM_JITTER_EN = 1'b0
) (
    input  logic             clk,  // destination clock
    input  logic             rst,  // destination-domain synchronous reset (q <= 0)

    // ---- signal crossing in ----
    input  logic [WIDTH-1:0] d,    // from the source domain (registered there)
    output logic [WIDTH-1:0] q     // d, two clk edges later
);

    if (WIDTH == 0) begin : g_check
        $fatal(0, "sync_2ff: WIDTH must be >= 1 (instance %m)");
    end
    if (SIM_JITTER_EN) begin : g_check_sim
        $fatal(0, "sync_2ff: SIM_JITTER_EN needs the simulation model tb/rtl/sim/sync_2ff.sv (instance %m)");
    end

    (* ASYNC_REG = "TRUE" *) logic [WIDTH-1:0] meta_q;  // may go metastable in silicon
    (* ASYNC_REG = "TRUE" *) logic [WIDTH-1:0] sync_q;  // resolved value

    always_ff @(posedge clk) begin
        if (rst) begin
            meta_q <= '0;
            sync_q <= '0;
        end else begin
            meta_q <= d;
            sync_q <= meta_q;
        end
    end

    assign q = sync_q;

endmodule

`resetall

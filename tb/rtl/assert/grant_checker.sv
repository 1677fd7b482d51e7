// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Two-input request arbiter (req_mux): at most one input is ready at a time (one_grant); every
// output beat is exactly one input beat (beat_passes); once a request's first beat has passed
// without tlast, only its input is served until its tlast (grant_held).
module grant_checker (
    input  wire clk,
    input  wire rst,
    input  wire s0_valid,
    input  wire s0_ready,
    input  wire s0_last,
    input  wire s1_valid,
    input  wire s1_ready,
    input  wire s1_last,
    input  wire m_valid,
    input  wire m_ready,
    input  wire m_last
);

    string where;
    initial where = $sformatf("%m");

    wire s0_beat = s0_valid && s0_ready;
    wire s1_beat = s1_valid && s1_ready;
    wire m_beat  = m_valid && m_ready;

    logic locked_q, owner_q;
    always_ff @(posedge clk) begin
        if (rst) begin
            locked_q <= 1'b0;
            owner_q  <= 1'b0;
        end else if (m_beat) begin
            locked_q <= !m_last;
            owner_q  <= s1_beat;
        end
    end

    one_grant: assert property (@(posedge clk) disable iff (rst) !(s0_ready && s1_ready))
        else splitrx_assert_pkg::report(where, "one_grant", "both inputs ready");

    beat_passes: assert property (@(posedge clk) disable iff (rst)
                                  m_beat == (s0_beat || s1_beat) && !(s0_beat && s1_beat))
        else splitrx_assert_pkg::report(where, "beat_passes",
                 $sformatf("output beat %0d, input beats %0d %0d", m_beat, s0_beat, s1_beat));

    grant_held: assert property (@(posedge clk) disable iff (rst)
                                 locked_q |-> !(owner_q ? s0_ready : s1_ready))
        else splitrx_assert_pkg::report(where, "grant_held",
                 $sformatf("input %0d served inside a request of input %0d", !owner_q, owner_q));

    logic unused;
    assign unused = ^{s0_last, s1_last};

endmodule

`resetall

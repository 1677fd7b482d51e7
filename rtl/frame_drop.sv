// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// Whole-frame drop in front of a stream that may refuse a beat, for a source that cannot wait
// (the MAC): a frame the output cannot take, from its first refused beat on, is dropped whole,
// and each dropped frame is marked by one terminator word sent as soon as there is room.
//
// A terminator is a beat with tlast = 1, tkeep = 0 and tuser = DROP_USER (bad, with the drop
// reason). It ends a frame cut after some of its beats went out: the downstream packet FIFO
// then drops that frame whole under DROP_USER's reason. A frame refused at its first beat gets
// a terminator of its own, a one-beat frame with no byte, dropped and counted the same way. So
// each dropped frame is counted exactly once, and no frame merges with the next. A new frame
// starts only when no terminator is owed, so terminators always close the right frame.
//
// Reset: rst (lone, e.g. the MAC reset while the other side runs) ends a frame that was open
// (its terminator is owed and sent after the reset); the count of owed terminators is cleared
// only by init (the start-up reset, seen on both sides of the crossing). The source's own
// frames restart at their next first beat after rst.
module frame_drop #(
    // Stream data width in bits (a multiple of 8).
    parameter int unsigned         DATA_W    = 64,
    // Width of tuser in bits.
    parameter int unsigned         USER_W    = 5,
    // tuser of a terminator: the downstream's "bad, drop reason" code.
    parameter logic [USER_W-1:0]   DROP_USER = '1,
    // Width of the count of terminators owed (saturates: frames beyond it go uncounted).
    parameter int unsigned         OWED_W    = 16
) (
    input  logic                clk,
    input  logic                rst,   // this side's reset (synchronous, active high)
    input  logic                init,  // start-up reset: clears the terminators owed

    // ---- stream in: never stalls ----
    input  logic [DATA_W-1:0]   s_axis_tdata,
    input  logic [DATA_W/8-1:0] s_axis_tkeep,
    input  logic                s_axis_tlast,
    input  logic [USER_W-1:0]   s_axis_tuser,
    input  logic                s_axis_tvalid,

    // ---- stream out: may refuse ----
    output logic [DATA_W-1:0]   m_axis_tdata,
    output logic [DATA_W/8-1:0] m_axis_tkeep,
    output logic                m_axis_tlast,
    output logic [USER_W-1:0]   m_axis_tuser,
    output logic                m_axis_tvalid,
    input  logic                m_axis_tready,

    // ---- status ----
    output logic                dropping  // terminators owed or a frame being discarded
);

    if (DATA_W == 0 || DATA_W % 8 != 0 || OWED_W == 0) begin : g_check
        $fatal(0, "frame_drop: DATA_W must be a multiple of 8, OWED_W >= 1 (instance %m)");
    end

    logic              open_q, open_d;  // some beats of the current frame went out
    logic              skip_q, skip_d;  // discarding the rest of the current frame
    logic [OWED_W-1:0] owed_q, owed_d;  // terminators owed
    logic              pass;            // this beat goes out
    logic              term;            // a terminator goes out
    logic              refuse;          // this beat's frame is dropped here

    always_comb begin
        open_d = open_q;
        skip_d = skip_q;
        owed_d = owed_q;
        pass   = 1'b0;
        refuse = 1'b0;

        if (s_axis_tvalid && !rst) begin  // in rst the source is restarting: nothing goes out
            if (skip_q) begin
                skip_d = !s_axis_tlast;
            end else if ((open_q || owed_q == '0) && m_axis_tready) begin
                pass   = 1'b1;
                open_d = !s_axis_tlast;
            end else begin
                refuse = 1'b1;  // cut mid-frame, or not allowed to start: one terminator owed
                open_d = 1'b0;
                skip_d = !s_axis_tlast;
            end
        end

        // A terminator uses the output when no beat does.
        term = !pass && !rst && owed_q != '0 && m_axis_tready;
        if (refuse && !term && owed_q != '1) begin
            owed_d = owed_q + 1'b1;
        end else if (term && !refuse) begin
            owed_d = owed_q - 1'b1;
        end
    end

    always_ff @(posedge clk) begin
        if (init) begin
            open_q <= 1'b0;
            skip_q <= 1'b0;
            owed_q <= '0;
        end else if (rst) begin
            // The source restarts at a first beat; an open frame is ended by a terminator.
            open_q <= 1'b0;
            skip_q <= 1'b0;
            if (open_q && owed_q != '1) begin
                owed_q <= owed_q + 1'b1;
            end
        end else begin
            open_q <= open_d;
            skip_q <= skip_d;
            owed_q <= owed_d;
        end
    end

    // m_axis_tready is a write port's registered "not full" (async_fifo's s_axis_tready): a
    // beat or terminator is offered only when it is taken, since the source cannot wait.
    assign m_axis_tvalid = pass || term;
    assign m_axis_tdata  = pass ? s_axis_tdata : '0;
    assign m_axis_tkeep  = pass ? s_axis_tkeep : '0;
    assign m_axis_tlast  = pass ? s_axis_tlast : 1'b1;
    assign m_axis_tuser  = pass ? s_axis_tuser : DROP_USER;
    assign dropping      = skip_q || owed_q != '0;

endmodule

`resetall

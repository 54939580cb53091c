"""seqcnn.io"""
